"""Run SQLAlchemy statements compiled once, on the unit of work's own DBAPI connection.

Building a Core statement and computing its cache key costs about a millisecond of CPU for the
registry's reads (correlated JSON sub-queries, joins), several times what the database takes to
answer them. The hot reads therefore build each statement once per *shape* (e.g. the kinds of the
filter clauses, not their values), with every value a named bind parameter, compile it for the
dialect, and execute the SQL text directly on the DBAPI cursor of the caller's connection (so
inside its transaction). Parameters must be plain driver values (str, int, list for PostgreSQL
arrays): no SQLAlchemy type processing is applied.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.sql import ClauseElement

_MAX_ENTRIES = 512
_cache: dict[tuple[str, Hashable], tuple[str, list[str] | None]] = {}
_lock = threading.Lock()


def _compiled(conn: Connection, key: Hashable,
              build: Callable[[], ClauseElement]) -> tuple[str, list[str] | None]:
    dialect = conn.dialect
    dialect_key = f"{dialect.name}+{dialect.driver}"  # the driver decides the paramstyle
    entry = _cache.get((dialect_key, key))
    if entry is None:
        compiled = build().compile(dialect=dialect)
        positional = dialect.paramstyle in ("qmark", "numeric", "format")
        order = getattr(compiled, "positiontup", None) or []
        entry = (compiled.string, list(order) if positional else None)
        with _lock:
            if len(_cache) >= _MAX_ENTRIES:
                # Shapes come from user filters: bound the cache rather than grow with them.
                _cache.clear()
            _cache[(dialect_key, key)] = entry
    return entry


#: Where `cursor_of` keeps a DBAPI connection's cursor, with the connection it belongs to.
_CURSOR = "modelyard_cursor"


def cursor_of(conn: Connection) -> Any:
    """The driver's cursor for the statements run here on `conn`'s DBAPI connection, made once
    per DBAPI connection and kept in its `info`. Each use runs one statement and reads all its
    rows before the next, so one cursor serves them all. Making a psycopg cursor per statement
    (adapters, loaders, SQLAlchemy's wrapper) cost about a fifth of each statement's client CPU
    on PostgreSQL's write path (bench/RESULTS.md, issue 21)."""
    fairy = conn.connection
    driver = fairy.dbapi_connection
    kept = fairy.info.get(_CURSOR)
    if kept is not None and kept[0] is driver:
        return kept[1]
    cursor = driver.cursor()  # type: ignore[union-attr]
    fairy.info[_CURSOR] = (driver, cursor)
    return cursor


def fetch_all(conn: Connection, key: Hashable, build: Callable[[], ClauseElement],
              params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of the statement `build()` (compiled once per dialect and `key`) for `params`."""
    sql, positions = _compiled(conn, key, build)
    cursor = cursor_of(conn)
    cursor.execute(sql, params if positions is None else [params[name] for name in positions])
    return list(cursor.fetchall())


def execute(conn: Connection, key: Hashable, build: Callable[[], ClauseElement],
            params: dict[str, Any]) -> int:
    """Run a statement that returns no rows (compiled as `fetch_all` does); rows affected."""
    sql, positions = _compiled(conn, key, build)
    cursor = cursor_of(conn)
    cursor.execute(sql, params if positions is None else [params[name] for name in positions])
    rowcount: int = cursor.rowcount
    return rowcount


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (each with the same columns, plain driver values) into `table` with one
    statement compiled once per table and set of columns, executed on the DBAPI cursor (one
    `executemany`). SQLAlchemy's own `conn.execute(insert(table), rows)` cost ~0.2 ms of CPU per
    call in the audit and history hooks every write runs, several times the insert itself."""
    if not rows:
        return
    columns = tuple(rows[0])
    sql, positions = _compiled(
        conn, ("insert_rows", table.name, columns),
        # inline(): no RETURNING of the new row's key, which nobody reads.
        lambda: insert(table).inline().values({name: bindparam(name) for name in columns}))
    cursor = cursor_of(conn)
    # One row (most writes): `execute`. psycopg runs `executemany` in pipeline mode, which
    # costs more than one statement's round trip.
    values: Sequence[Any] = rows if positions is None else \
        [[row[name] for name in positions] for row in rows]
    if len(values) == 1:
        cursor.execute(sql, values[0])
    else:
        cursor.executemany(sql, values)
