"""Writers of one SQLite file queue on SqliteWriteLock across processes, not in SQLite's busy
handler: a writer in another process starts only once the holder has let go."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modelyard.store.sqlite_write_lock import SqliteWriteLock

_HOLDER = """
import sys, time
from pathlib import Path
from modelyard.store.sqlite_write_lock import SqliteWriteLock
lock, log = SqliteWriteLock(sys.argv[1]), Path(sys.argv[2])
with lock:
    print("held", flush=True)
    time.sleep(0.5)
    with log.open("a") as out:
        out.write("holder done\\n")
"""


def test_a_writer_in_another_process_waits_for_the_holder(tmp_path: Path) -> None:
    database, log = str(tmp_path / "modelyard.db"), tmp_path / "order.log"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, database, str(log)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    lock = SqliteWriteLock(database)
    with lock, log.open("a") as out:
        out.write("second writer\n")
    assert holder.wait(timeout=10) == 0
    assert log.read_text().splitlines() == ["holder done", "second writer"]
    lock.close()


def test_nested_writes_on_one_thread_keep_the_lock(tmp_path: Path) -> None:
    database = str(tmp_path / "modelyard.db")
    lock = SqliteWriteLock(database)
    probe = ("import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "try:\n"
             "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "    print('free')\n"
             "except BlockingIOError:\n"
             "    print('locked')\n")

    def state() -> str:
        return subprocess.run([sys.executable, "-c", probe, f"{database}-write.lock"],
                              capture_output=True, text=True, check=True).stdout.strip()

    with lock:
        with lock:
            assert state() == "locked"
        assert state() == "locked"  # the inner exit must not release the outer write's lock
    assert state() == "free"
    lock.close()
