"""One SQLite writer at a time, across the threads and the processes of one database file.

SQLite lets one transaction write at a time. A writer that finds the file locked waits in
SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms between retries: the write does not start
when the lock is freed but when its sleep ends. Writers therefore queue here first, on a thread
lock (this process) and an advisory `flock` on a file beside the database (other processes, e.g.
`--workers 2`), and are woken the moment the lock is released. With two workers writing, the
busy handler's sleeps made the p99 of a write 79 ms (bench/, issue 6).
"""

from __future__ import annotations

import fcntl
import os
import threading
from types import TracebackType


class SqliteWriteLock:
    """Reentrant on one thread: a nested write keeps the lock until the outer one ends."""

    def __init__(self, database_file: str | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0  # changed only by the thread holding `_threads`
        # No file (an in-memory database): no other process can share the database.
        self._path = None if database_file is None else f"{database_file}-write.lock"
        self._fd: int | None = None  # opened by the first write, closed by `close`

    def __enter__(self) -> None:
        self._threads.acquire()
        if self._depth == 0 and self._path is not None:
            try:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    @property
    def threads(self) -> threading.RLock:
        """The lock between this process's threads alone (no file: closing needs no flock)."""
        return self._threads

    def close(self) -> None:
        """Close the lock file (a later write opens it again)."""
        with self._threads:
            if self._fd is not None and self._depth == 0:
                os.close(self._fd)
                self._fd = None
