"""The hot point reads on PostgreSQL, run as server-side prepared statements straight on libpq.

A point read's query takes PostgreSQL ~0.1 ms; psycopg's cursor around it (prepare bookkeeping,
generators, row makers, adapters) cost ~50 µs more of the server's CPU per read than libpq's own
`PQexecPrepared` through psycopg's documented low-level `psycopg.pq` wrapper (bench/, issue 6).
These few statements are fixed at start-up, so they are prepared once per connection by name and
their text results converted by each column's type OID. Everything else keeps the cursor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from psycopg import Connection, errors, pq

from modelyard.store import cooperative
from modelyard.store.libpq_statements import text_converter


def _converter(oid: int) -> Callable[[bytes], Any]:
    convert = text_converter(oid)
    if convert is None:
        # Only the statements of point_reads run here; a column of another type is a
        # programming error that the tests of those reads would show.
        raise TypeError(f"no text converter for PostgreSQL type oid {oid}")
    return convert


class _Session:
    """One connection of the reader's, with the statements prepared on it."""

    def __init__(self, connection: Connection[Any]) -> None:
        connection.autocommit = True
        # Text results are decoded as UTF-8 below; the session is this reader's alone.
        connection.execute("SET client_encoding TO 'UTF8'")
        self.connection = connection
        self.pgconn = connection.pgconn
        self.prepared: set[str] = set()

    @property
    def broken(self) -> bool:
        return self.pgconn.status != pq.ConnStatus.OK


class LibpqPreparedReads:
    """Named statements with `$n` parameters over a few connections of their own.

    A read takes an idle session (the one used last, LIFO) or opens one, and gives it back. In a
    request's handler on the event loop, the wait for the answer lets other requests run
    (store/cooperative.py), so several reads may be in flight; at most `MAX_SUSPENDED` at a time,
    beyond which reads wait blocking: that bounds the sessions to it plus one per thread.
    """

    MAX_SUSPENDED = 8

    def __init__(self, connect: Callable[[], Connection[Any]],
                 statements: dict[str, tuple[str, list[str]]]) -> None:
        self._connect = connect
        self._statements = {key: (f"modelyard_{key}".encode(), sql.encode(), order)
                            for key, (sql, order) in statements.items()}
        self._idle: list[_Session] = []
        self._lock = threading.Lock()
        self._suspended = 0

    def add(self, key: str, sql: str, order: list[str]) -> None:
        """One more statement (a search compiled on first use: PointReads.search)."""
        self._statements[key] = (f"modelyard_{key}".encode(), sql.encode(), order)

    def _take(self) -> _Session:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Session(self._connect())

    def _give_back(self, session: _Session) -> None:
        with self._lock:
            if len(self._idle) < self.MAX_SUSPENDED:
                self._idle.append(session)
                return
        session.connection.close()

    def rows(self, key: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        session = self._take()
        try:
            result = self._execute(session, key, params)
        except BaseException as error:  # a cancelled request's too
            # The session is closed whatever went wrong, so no read finds it half-used. If it had
            # broken (the database restarted, or an administrator ended it), a read is safe to
            # repeat: once, on a new session, rather than failing this request.
            broken = session.broken
            session.connection.close()
            if not (broken and isinstance(error, Exception)):
                raise
            session = _Session(self._connect())
            try:
                result = self._execute(session, key, params)
            except BaseException:
                session.connection.close()
                raise
        self._give_back(session)
        convert = [_converter(result.ftype(column)) for column in range(result.nfields)]
        get = result.get_value
        rows = [tuple(None if (value := get(row, column)) is None else to(value)
                      for column, to in enumerate(convert))
                for row in range(result.ntuples)]
        result.clear()
        return rows

    def _execute(self, session: _Session, key: str, params: dict[str, Any]) -> pq.abc.PGresult:
        name, sql, order = self._statements[key]
        pgconn = session.pgconn
        if key not in session.prepared:
            _check(pgconn.prepare(name, sql), pq.ExecStatus.COMMAND_OK)
            session.prepared.add(key)
        values = [str(params[p]).encode() for p in order]  # text format; never NULL here
        if not cooperative.can_suspend() or self._suspended >= self.MAX_SUSPENDED:
            return _check(pgconn.exec_prepared(name, values), pq.ExecStatus.TUPLES_OK)
        # Sent in full (the connection is in blocking mode); then wait for the answer without
        # holding the event loop.
        pgconn.send_query_prepared(name, values)  # raises if it cannot be sent
        self._suspended += 1  # only handlers on the event loop's thread count here
        try:
            # No read first: PostgreSQL cannot have answered yet, and `is_busy` parses what
            # libpq already holds, so a wait starts only when the answer is not all there.
            while pgconn.is_busy():
                cooperative.wait_readable(pgconn.socket)
                pgconn.consume_input()
        finally:
            self._suspended -= 1
        result = pgconn.get_result()
        while (extra := pgconn.get_result()) is not None:  # the end of the answer
            extra.clear()
        if result is None:
            raise errors.OperationalError(pgconn.get_error_message())
        return _check(result, pq.ExecStatus.TUPLES_OK)


def _check(result: pq.abc.PGresult, expected: pq.ExecStatus) -> pq.abc.PGresult:
    if result.status != expected:
        raise errors.error_from_result(result)
    return result
