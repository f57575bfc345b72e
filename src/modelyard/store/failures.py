"""What the database's refusals mean for the caller: bad input (400) or an outage (503).

A value neither engine can hold (a NUL in text on PostgreSQL, an integer beyond 64 bits on
SQLite, beyond its column on PostgreSQL, a string over its column's size) is the caller's bad
input, whatever validation missed it; a database that cannot be reached is an outage the client
should wait out. Both used to end as a 500 INTERNAL_ERROR, which the mlflow client retries
for minutes and which says nothing to the user.
"""

from __future__ import annotations

import sqlite3
from types import TracebackType

from sqlalchemy.exc import DBAPIError, DisconnectionError

from modelyard.domain.errors import InvalidArgument, Unavailable

# PostgreSQL's refusals of a value too big to store: a string over its column's length
# (22001) or an index entry over 2,704 bytes (54000, e.g. a name of multi-byte characters).
_SIZE_LIMIT_STATES = frozenset({"22001", "54000"})
#: numeric_value_out_of_range: an integer beyond its column (INTEGER ids, BIGINT times).
_OUT_OF_RANGE = "22003"
#: SQLite's outages: the file cannot be opened, written or locked in time.
_SQLITE_OUTAGES = ("unable to open database", "disk i/o error", "database is locked",
                   "readonly database", "database or disk is full")

_LOCK_NOT_AVAILABLE = "55P03"
UNREACHABLE = "The database cannot be reached right now; retry in a few seconds."


def translate(error: BaseException) -> Exception | None:
    """The domain error `error` stands for, or None when it is a bug (a 500)."""
    if isinstance(error, OverflowError):  # sqlite3 binding an int beyond 64 bits
        return InvalidArgument("A number in the request is too large: integers must fit in "
                               "64 bits, identifiers and version numbers in 32.")
    orig: BaseException = (error.orig or error) if isinstance(error, DBAPIError) else error
    state = getattr(orig, "sqlstate", None)
    if state in _SIZE_LIMIT_STATES:
        return InvalidArgument(
            "A name, key or value is too long to store (the database's limit is in bytes: "
            "shorten it or use fewer multi-byte characters).")
    if state == _OUT_OF_RANGE:
        return InvalidArgument("A number in the request is out of range: integers must fit in "
                               "64 bits, identifiers and version numbers in 32.")
    if "NUL (0x00)" in str(orig):  # psycopg refuses it before sending
        return InvalidArgument("A value in the request contains a NUL character; remove it.")
    if state == _LOCK_NOT_AVAILABLE:  # a bounded lock wait ran out (Database._pg_alone)
        return Unavailable("The change waited too long for another one in progress on the "
                           "same object; retry it.")
    if isinstance(error, DisconnectionError) or (
            isinstance(error, DBAPIError) and error.connection_invalidated):
        return Unavailable(UNREACHABLE)
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return Unavailable(UNREACHABLE) if any(s in text for s in _SQLITE_OUTAGES) else None
    if _is_psycopg_outage(orig):
        return Unavailable(UNREACHABLE)
    return None


def _is_psycopg_outage(error: BaseException) -> bool:
    module = type(error).__module__
    if not module.startswith("psycopg"):
        return False
    import psycopg  # here: a server on SQLite never imports it

    # OperationalError: connection refused or lost, the server shutting down (57P01-57P03);
    # InterfaceError: a connection already closed. Neither is the request's fault.
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


class _Translated:
    """Raise the domain error a database failure inside stands for; other errors unchanged.
    A class, not a generator: it wraps every unit of work and point read."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 _tb: TracebackType | None) -> None:
        if error is None or not isinstance(error, Exception):
            return
        mapped = translate(error)
        if mapped is not None:
            raise mapped from error


translated = _Translated()
