"""Engines and the unit of work.

`Database.write()` opens one transaction that takes the write lock up front (SQLite:
`BEGIN IMMEDIATE`; PostgreSQL: row locks taken by the statements), so that concurrent writers
from several processes serialize instead of failing half-way. `Database.read()` gives a
consistent snapshot for a multi-statement read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

_WRITE = "modelyard_write"


def sqlite_url_for(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'modelyard.db').resolve()}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            # LIKE is case-sensitive in every dialect Modelyard speaks; ILIKE is not.
            "case_sensitive_like=ON",
            "cache_size=-32000",
            "temp_store=MEMORY",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """One engine and the unit-of-work contexts every repository runs in."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.engine = create_engine(url, poolclass=QueuePool, pool_size=8, max_overflow=8)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
