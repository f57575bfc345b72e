"""The database side of backups (services/backup.py): a consistent snapshot of a live
database into a portable SQLite file, engine-neutral table digests, and loading a snapshot into
an empty database of either engine.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, create_engine, func, inspect, select, text, update

from modelyard.domain.errors import FailedPrecondition
from modelyard.store import migrate, tables
from modelyard.store.database import Database

#: Columns holding storage locations: moved with the storage root on restore.
_LOCATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "registered_models": ("storage_location",),
    "model_versions": ("storage_location",),
    "uc_catalogs": ("storage_root", "storage_location"),
    "uc_schemas": ("storage_root", "storage_location"),
    "storage_garbage": ("location",),
}


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return value


def table_digest(conn: Connection, table: Table) -> tuple[int, str]:
    """(row count, digest) of a table, the same on SQLite and PostgreSQL for the same rows: the
    sum of each row's SHA-256 (order-free, as the engines order text differently), streamed."""
    total, count = 0, 0
    for row in conn.execute(select(table)).yield_per(5000):
        line = json.dumps([_canonical(v) for v in row], separators=(",", ":"))
        total += int.from_bytes(hashlib.sha256(line.encode()).digest(), "big")
        count += 1
    return count, f"{total % (1 << 256):064x}"


def sqlite_engine(path: Path, read_only: bool = False) -> Any:
    if read_only:  # a backup's file is never written to: its SHA-256 is in the manifest
        return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    return create_engine(f"sqlite:///{path}")


class ReadOnlyDatabase:
    """What services.audit.verify asks of a Database, on a backup's file, read-only."""

    def __init__(self, path: Path) -> None:
        self.engine = sqlite_engine(path, read_only=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def table_digests(conn: Connection) -> dict[str, tuple[int, str]]:
    return {t.name: table_digest(conn, t) for t in tables.metadata.sorted_tables}


def _sqlite_path(database: Database) -> Path:
    name = database.engine.url.database
    if not name or name == ":memory:":
        raise FailedPrecondition("an in-memory SQLite database cannot be backed up")
    return Path(name)


def take(database: Database, target: Path) -> None:
    """The database, as of one instant, into an SQLite file at `target`."""
    target.unlink(missing_ok=True)
    if database.is_sqlite:
        source = sqlite3.connect(_sqlite_path(database))
        copy = sqlite3.connect(target)
        try:
            # One step (pages=-1): the whole copy happens in one read transaction.
            source.backup(copy)
            # A self-contained file: no -wal beside it to lose or to change it later.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
            source.close()
        return
    engine = sqlite_engine(target)
    try:
        live = database.engine.connect().execution_options(
            isolation_level="SERIALIZABLE", postgresql_readonly=True,
            postgresql_deferrable=True)
        with live, live.begin(), engine.begin() as out:
            heads = migrate.current_heads(live)
            if heads != migrate.script_heads():
                raise FailedPrecondition(
                    f"the database's schema is at {sorted(heads)}, this Modelyard's at "
                    f"{sorted(migrate.script_heads())}: back up with the Modelyard version "
                    "the server runs")
            migrate.create_unseeded(out, heads)
            _copy_rows(live, out)
    finally:
        engine.dispose()


def _copy_rows(source: Connection, out: Connection) -> None:
    """Every row of every table, in the order foreign keys need, streamed in batches."""
    for table in tables.metadata.sorted_tables:
        batch: list[dict[str, Any]] = []
        for row in source.execute(select(table)).yield_per(5000):
            batch.append(dict(row._mapping))
            if len(batch) == 5000:
                out.execute(table.insert(), batch)
                batch = []
        if batch:
            out.execute(table.insert(), batch)


def governed_files(conn: Connection) -> list[tuple[str, str, int, str]]:
    """(location, path, size, sha256) of every recorded file of a finalized version."""
    files, versions = tables.model_version_files, tables.model_versions
    rows = conn.execute(
        select(versions.c.storage_location, files.c.path, files.c.size, files.c.sha256)
        .join(versions, versions.c.id == files.c.version_id)
        .order_by(versions.c.storage_location, files.c.path))
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def moved(value: Any, old_root: str, new_root: str) -> Any:
    if isinstance(value, str) and old_root != new_root and (
            value == old_root or value.startswith(old_root.rstrip("/") + "/")):
        return new_root.rstrip("/") + value[len(old_root.rstrip("/")):]
    return value


def move_locations(conn: Connection, old_root: str, new_root: str) -> None:
    """Locations under the backed-up server's storage root, moved under the new one."""
    if old_root == new_root:
        return
    for name, columns in _LOCATION_COLUMNS.items():
        table = tables.metadata.tables[name]
        for column in columns:
            rows = conn.execute(select(*table.primary_key.columns, table.c[column])
                                .where(table.c[column].is_not(None))).all()
            for row in rows:
                value = moved(row[-1], old_root, new_root)
                if value != row[-1]:
                    keys = [c == v for c, v in zip(table.primary_key.columns, row[:-1],
                                                   strict=True)]
                    conn.execute(update(table).where(*keys).values({column: value}))


def load(staged: Path, database: Database) -> None:
    """Every row of the staged SQLite file into the empty database."""
    source = sqlite_engine(staged)
    try:
        with source.connect() as src, database.engine.begin() as out:
            migrate.create_unseeded(out, migrate.script_heads())
            _copy_rows(src, out)
            if database.dialect == "postgresql":
                _reset_sequences(out)
    finally:
        source.dispose()


def _reset_sequences(conn: Connection) -> None:
    """Rows came with their ids: move each id sequence past them."""
    for table in tables.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (
                    column.autoincrement == "auto" and len(table.primary_key.columns) == 1
                    and column.type.python_type is int):
                highest = conn.execute(select(func.max(column))).scalar()
                conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, :c), :v, :called)"),
                             {"t": table.name, "c": column.name, "v": highest or 1,
                              "called": highest is not None})


def is_empty(database: Database) -> bool:
    """True when the database holds no table at all (a restore's target must be new)."""
    with database.engine.connect() as conn:
        return not inspect(conn).get_table_names()




def file_digests(path: Path) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """(table digests, schema heads) of a snapshot file, read-only."""
    engine = sqlite_engine(path, read_only=True)
    try:
        with engine.connect() as conn:
            return table_digests(conn), sorted(migrate.current_heads(conn))
    finally:
        engine.dispose()


def database_digests(database: Database) -> dict[str, tuple[int, str]]:
    with database.read() as conn:
        return table_digests(conn)


def file_governed_files(path: Path) -> list[tuple[str, str, int, str]]:
    engine = sqlite_engine(path, read_only=True)
    try:
        with engine.connect() as conn:
            return governed_files(conn)
    finally:
        engine.dispose()


def prepare_for_restore(staged: Path, old_root: str, new_root: str) -> None:
    """A copy of a snapshot made ready to load: its schema brought up to this Modelyard's (a
    backup of an older one) and its locations moved from `old_root` to `new_root`."""
    staging = Database(f"sqlite:///{staged}")
    try:
        migrate.upgrade(staging)
        with staging.engine.begin() as conn:
            move_locations(conn, old_root, new_root)
    finally:
        staging.dispose()
