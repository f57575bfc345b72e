"""Run SQLAlchemy statements compiled once, on the unit of work's own DBAPI connection.

Building a Core statement and computing its cache key costs about a millisecond of CPU for the
registry's reads (correlated JSON sub-queries, joins), several times what the database takes to
answer them. The hot reads therefore build each statement once per *shape* (e.g. the kinds of the
filter clauses, not their values), with every value a named bind parameter, compile it for the
dialect, and execute the SQL text directly on the DBAPI cursor of the caller's connection (so
inside its transaction). Parameters must be plain driver values (str, int, list for PostgreSQL
arrays): no SQLAlchemy type processing is applied.

On PostgreSQL the statements run prepared on libpq instead, in the connection's transaction, and
those whose answer the caller does not need at once (`execute_later`, `insert_rows`,
`fetch_ahead`) go with the next round trip (store/libpq_statements.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.sql import ClauseElement

_MAX_ENTRIES = 512
_lock = threading.Lock()


class _Entry:
    """A statement compiled for one dialect: its SQL, the parameter names in order (positional
    paramstyles; None for named ones) and, on PostgreSQL, its form for libpq."""

    __slots__ = ("libpq", "positions", "sql")

    def __init__(self, sql: str, positions: list[str] | None, libpq: Any) -> None:
        self.sql, self.positions, self.libpq = sql, positions, libpq


_cache: dict[tuple[str, Hashable], _Entry] = {}
#: PostgreSQL's statements compiled with `$n` parameters, for libpq (store/libpq_statements.py).
_dollar_dialect: Any = None
#: store/libpq_statements.py, once a statement has been compiled for it (SQLite servers never
#: import it: it imports psycopg). Kept here rather than imported in each function that uses
#: it: an import in a function costs a call into importlib each time (~1 µs), and every
#: statement of a write on PostgreSQL used two (bench/RESULTS.md, issue 21).
_libpq: Any = None


def _compiled(conn: Connection, key: Hashable, build: Callable[[], ClauseElement]) -> _Entry:
    dialect = conn.dialect
    dialect_key = f"{dialect.name}+{dialect.driver}"  # the driver decides the paramstyle
    entry = _cache.get((dialect_key, key))
    if entry is None:
        statement = build()
        compiled = statement.compile(dialect=dialect)
        positional = dialect.paramstyle in ("qmark", "numeric", "format")
        order = getattr(compiled, "positiontup", None) or []
        entry = _Entry(compiled.string, list(order) if positional else None,
                       _libpq_statement(statement) if dialect_key == "postgresql+psycopg"
                       else None)
        with _lock:
            if len(_cache) >= _MAX_ENTRIES:
                # Shapes come from user filters: bound the cache rather than grow with them.
                _cache.clear()
            _cache[(dialect_key, key)] = entry
    return entry


def _libpq_statement(statement: ClauseElement) -> Any:
    global _dollar_dialect, _libpq
    from sqlalchemy.dialects.postgresql import psycopg  # PostgreSQL servers only

    from modelyard.store import libpq_statements

    _libpq = libpq_statements
    if _dollar_dialect is None:
        _dollar_dialect = psycopg.dialect(paramstyle="numeric_dollar")
    compiled = statement.compile(dialect=_dollar_dialect)
    order = getattr(compiled, "positiontup", None) or []
    return libpq_statements.Statement(compiled.string, list(order))


#: Where `cursor_of` keeps a DBAPI connection's cursor, with the connection it belongs to.
_CURSOR = "modelyard_cursor"


def cursor_of(conn: Connection) -> Any:
    """The driver's cursor for the statements run here on `conn`'s DBAPI connection, made once
    per DBAPI connection and kept in its `info`. Each use runs one statement and reads all its
    rows before the next, so one cursor serves them all. Making a psycopg cursor per statement
    (adapters, loaders, SQLAlchemy's wrapper) cost about a fifth of each statement's client CPU
    on PostgreSQL's write path (bench/RESULTS.md, issue 21). On PostgreSQL, the statements
    waiting on the connection (`execute_later`) are sent first."""
    fairy = conn.connection
    driver = fairy.dbapi_connection
    kept = fairy.info.get(_CURSOR)
    if kept is not None and kept[0] is driver:
        cursor = kept[1]
    else:
        cursor = driver.cursor()  # type: ignore[union-attr]
        fairy.info[_CURSOR] = (driver, cursor)
    if conn.dialect.name == "postgresql":
        send_waiting(conn)
    return cursor


def _libpq_session(conn: Connection, entry: _Entry) -> Any:
    """The connection's libpq session if `entry` may run on it, else None."""
    if entry.libpq is None:
        return None
    session = _libpq.session_of(conn.connection)
    return session if session.usable else None  # a UTF-8 session


def _on_libpq(conn: Connection, entry: _Entry, params: dict[str, Any]) -> Any:
    """(session, values) when `entry` runs on libpq (store/libpq_statements.py, `_libpq`) with
    `params` (PostgreSQL, plain values), else None: psycopg's cursor runs it."""
    session = _libpq_session(conn, entry)
    if session is None:
        return None
    values = _libpq.encode(entry.libpq.order, params)
    return None if values is None else (session, values)


def fetch_all(conn: Connection, key: Hashable, build: Callable[[], ClauseElement],
              params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of the statement `build()` (compiled once per dialect and `key`) for `params`."""
    entry = _compiled(conn, key, build)
    if (libpq := _on_libpq(conn, entry, params)) is not None:
        session, values = libpq
        rows: list[tuple[Any, ...]] = _libpq.rows(session, entry.libpq, values)
        return rows
    cursor = cursor_of(conn)
    cursor.execute(entry.sql, params if entry.positions is None
                   else [params[name] for name in entry.positions])
    return list(cursor.fetchall())


def execute(conn: Connection, key: Hashable, build: Callable[[], ClauseElement],
            params: dict[str, Any]) -> int:
    """Run a statement that returns no rows (compiled as `fetch_all` does); rows affected."""
    entry = _compiled(conn, key, build)
    if (libpq := _on_libpq(conn, entry, params)) is not None:
        session, values = libpq
        count: int = _libpq.affected(session, entry.libpq, values)
        return count
    cursor = cursor_of(conn)
    cursor.execute(entry.sql, params if entry.positions is None
                   else [params[name] for name in entry.positions])
    rowcount: int = cursor.rowcount
    return rowcount


def execute_later(conn: Connection, key: Hashable, build: Callable[[], ClauseElement],
                  params: dict[str, Any], at_commit: bool = False) -> None:
    """Run a statement whose outcome the caller does not read: on PostgreSQL it waits on the
    connection and goes with the next statement or the COMMIT, in one round trip
    (store/libpq_statements.py); with `at_commit`, with the COMMIT only. Elsewhere it runs
    now. Its error, if any, is raised then."""
    entry = _compiled(conn, key, build)
    if (libpq := _on_libpq(conn, entry, params)) is not None:
        session, values = libpq
        _libpq.later(session, entry.libpq, values, at_commit=at_commit)
        return
    execute(conn, key, build, params)


class Answered:
    """Rows already read (what `fetch_ahead` gives where nothing waits)."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def rows(self) -> list[tuple[Any, ...]]:
        return self._rows


def fetch_ahead(conn: Connection, key: Hashable, build: Callable[[], ClauseElement],
                params: dict[str, Any]) -> Any:
    """The rows of a read (compiled as `fetch_all` does) that the caller needs a little later:
    on PostgreSQL it waits on the connection and goes with the next statement that has an
    answer, in one round trip, in order with the statements around it; elsewhere it runs now.
    `.rows()` of what it returns are the rows (sending it then, if nothing else has)."""
    entry = _compiled(conn, key, build)
    if (libpq := _on_libpq(conn, entry, params)) is not None:
        session, values = libpq
        ahead = _libpq.Ahead(session)
        _libpq.later(session, entry.libpq, values, ahead)
        return ahead
    return Answered(fetch_all(conn, key, build, params))


def send_waiting(conn: Connection) -> None:
    """Send the statements waiting on `conn` (PostgreSQL) before one run another way."""
    if _libpq is not None:  # else no statement has been compiled for libpq: none waits
        _libpq.send_waiting(conn.connection.info)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (each with the same columns, plain driver values) into `table` with one
    statement compiled once per table and set of columns. On PostgreSQL the rows wait on the
    connection (`execute_later`); elsewhere they are inserted now (one `executemany`).
    SQLAlchemy's own `conn.execute(insert(table), rows)` cost ~0.2 ms of CPU per call in the
    audit and history hooks every write runs, several times the insert itself."""
    if not rows:
        return
    columns = tuple(rows[0])
    key = ("insert_rows", table.name, columns)

    def build() -> ClauseElement:
        # inline(): no RETURNING of the new row's key, which nobody reads.
        return insert(table).inline().values({name: bindparam(name) for name in columns})

    entry = _compiled(conn, key, build)
    if _libpq_session(conn, entry) is not None:
        for row in rows:
            execute_later(conn, key, build, dict(row))
        return
    cursor = cursor_of(conn)
    # One row (most writes): `execute`. psycopg runs `executemany` in pipeline mode, which
    # costs more than one statement's round trip.
    values: Sequence[Any] = rows if entry.positions is None else \
        [[row[name] for name in entry.positions] for row in rows]
    if len(values) == 1:
        cursor.execute(entry.sql, values[0])
    else:
        cursor.executemany(entry.sql, values)
