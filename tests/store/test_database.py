"""The SQLite writer connection a process keeps between writes (store/database.py)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from modelyard.store.database import Database, sqlite_url_for


def test_a_forked_process_writes_on_a_connection_of_its_own(tmp_path: Path) -> None:
    """A process forked after writes (a pre-forking server) must not write on its parent's
    SQLite connection: it opens its own, and both processes' rows land."""
    database = Database(sqlite_url_for(tmp_path))
    with database.write() as conn:
        conn.execute(text("CREATE TABLE t (who TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('parent')"))
    parent_writer = database._sqlite_writer()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's outcome is its exit status)
        code = 1
        try:
            with database.write() as conn:
                conn.execute(text("INSERT INTO t VALUES ('child')"))
            code = 0 if database._sqlite_writer() is not parent_writer else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with database.write() as conn:
        conn.execute(text("INSERT INTO t VALUES ('parent again')"))
    assert database._sqlite_writer() is parent_writer
    with database.read() as conn:
        assert sorted(row[0] for row in conn.execute(text("SELECT who FROM t"))) == [
            "child", "parent", "parent again"]
    database.dispose()
