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

import orjson
from psycopg import Connection, errors, pq

_TEXT_OIDS = frozenset({25, 1043, 19, 1042})  # text, varchar, name, char(n)
_INT_OIDS = frozenset({20, 21, 23, 26})  # int8, int2, int4, oid
_JSON_OIDS = frozenset({114, 3802})  # json, jsonb


def _text(value: bytes) -> str:
    return value.decode()


def _bool(value: bytes) -> bool:
    return value == b"t"


def _converter(oid: int) -> Callable[[bytes], Any]:
    if oid in _TEXT_OIDS:
        return _text
    if oid in _INT_OIDS:
        return int
    if oid in _JSON_OIDS:
        return orjson.loads
    if oid == 16:
        return _bool
    if oid in (700, 701):
        return float
    # Only the statements of point_reads run here; a column of another type is a programming
    # error that the tests of those reads would show.
    raise TypeError(f"no text converter for PostgreSQL type oid {oid}")


class LibpqPreparedReads:
    """Named statements with `$n` parameters, each thread on its own connection."""

    def __init__(self, connect: Callable[[], Connection[Any]],
                 statements: dict[str, tuple[str, list[str]]]) -> None:
        self._connect = connect
        self._statements = {key: (f"modelyard_{key}".encode(), sql.encode(), order)
                            for key, (sql, order) in statements.items()}
        self._local = threading.local()

    def _session(self) -> tuple[pq.abc.PGconn, set[str]]:
        session = getattr(self._local, "session", None)
        if session is None:
            connection = self._connect()
            connection.autocommit = True
            # Text results are decoded as UTF-8 below; the session is this reader's alone.
            connection.execute("SET client_encoding TO 'UTF8'")
            session = self._local.session = (connection, connection.pgconn, set())
        return session[1], session[2]

    def _drop_session(self) -> bool:
        """Close this thread's connection; whether it had broken."""
        session = getattr(self._local, "session", None)
        self._local.session = None
        if session is None:
            return False
        broken = session[1].status != pq.ConnStatus.OK
        session[0].close()
        return broken

    def _execute(self, key: str, params: dict[str, Any]) -> pq.abc.PGresult:
        name, sql, order = self._statements[key]
        pgconn, prepared = self._session()
        if key not in prepared:
            _check(pgconn.prepare(name, sql), pq.ExecStatus.COMMAND_OK)
            prepared.add(key)
        values = [str(params[p]).encode() for p in order]  # text format; never NULL here
        return _check(pgconn.exec_prepared(name, values), pq.ExecStatus.TUPLES_OK)

    def rows(self, key: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        try:
            result = self._execute(key, params)
        except Exception:
            # Drop the connection whatever went wrong, so the next read starts clean. If it had
            # broken (the database restarted, or an administrator ended the session), a read is
            # safe to repeat: once, on a new connection, rather than failing this request.
            if not self._drop_session():
                raise
            try:
                result = self._execute(key, params)
            except Exception:
                self._drop_session()
                raise
        convert = [_converter(result.ftype(column)) for column in range(result.nfields)]
        get = result.get_value
        rows = [tuple(None if (value := get(row, column)) is None else to(value)
                      for column, to in enumerate(convert))
                for row in range(result.ntuples)]
        result.clear()
        return rows


def _check(result: pq.abc.PGresult, expected: pq.ExecStatus) -> pq.abc.PGresult:
    if result.status != expected:
        raise errors.error_from_result(result)
    return result
