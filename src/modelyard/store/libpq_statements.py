"""The compiled statements of a unit of work on PostgreSQL, run straight on libpq, pipelined.

A version creation on PostgreSQL was nine round trips (BEGIN, the model's next number under its
lock, the INSERT, the model's summary, the audit chain's lock, its head, the audit row, the
history row, COMMIT), each ~40 µs of the server's CPU in psycopg's cursor (query conversion,
adapters, prepare bookkeeping, row makers) and the two system calls of a round trip: about half
of the write's CPU (bench/RESULTS.md, issue 21). Here, as for the point reads
(store/libpq_reads.py), each statement is prepared once per connection by name and run with
text parameters through psycopg's documented low-level `psycopg.pq` wrapper, and:

- statements whose answer nobody reads (the summary's UPDATE, the chain's lock, audit and history
  rows, the new version's INSERT) wait on the connection (`later`) and go with the next
  statement that has an answer, or with the COMMIT (`commit_waiting`), in one libpq pipeline:
  one round trip for all of them, in order; reads needed a little later go the same way
  (`Ahead`);
- the BEGIN goes with the transaction's first statement.

On the event loop, the writes of the requests served together share one transaction and one
COMMIT (store/group_commit.py), each in a savepoint of its own (a `Member`): a member's waiting
statements go with the next member's first round trip, and the last one's with the COMMIT. A
member whose waiting statement fails there is rolled back to its savepoint alone and gets the
error after the COMMIT; the statements sent after it are sent again.

A version creation is now two round trips, fewer in a group. What a write guarantees is
unchanged: the same statements run in the same order in the same transaction, and the
request's answer waits for its COMMIT. An error in a waiting statement is raised by the call
that sends it (at the latest the COMMIT), which fails the unit of work as it would have at once
(in a group: the member's own, after the COMMIT). Only plain values (str, int,
bool, None) are sent this way; a statement with another value (a list for an array) runs on
psycopg's cursor, after the waiting ones are sent.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from psycopg import DataError, errors, pq

from modelyard.store import cooperative

#: Where a DBAPI connection keeps its `_Session`.
_SESSION = "modelyard_libpq"
#: Prepared statements per connection, at most; past it a statement is parsed on every run (an
#: unnamed statement), as search shapes come from user filters and must not pile up.
MAX_PREPARED = 256

_OK = pq.ExecStatus.COMMAND_OK
_ROWS = pq.ExecStatus.TUPLES_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC

_names = itertools.count(1)


class Statement:
    """One compiled statement: its `$n` SQL, the parameter names in order, a name to prepare."""

    __slots__ = ("name", "order", "sql")

    def __init__(self, sql: str, order: Sequence[str]) -> None:
        self.sql = sql.encode()
        self.order = tuple(order)
        self.name = f"modelyard_w{next(_names)}".encode()


Values = list[bytes | None]
#: A statement to send: its values, where its rows go (if anyone reads them), whose it is.
_Waiting = tuple["Statement", Values, "Ahead | None", "Member | None"]


def encode(order: Sequence[str], params: dict[str, Any]) -> Values | None:
    """The parameters as libpq's text values, or None when one is not a plain value."""
    values: Values = []
    for name in order:
        value = params[name]
        kind = type(value)
        if kind is str:
            if "\x00" in value:  # libpq would cut the value there; psycopg refuses it so
                raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
            values.append(value.encode())
        elif kind is int:
            values.append(str(value).encode())
        elif value is None:
            values.append(None)
        elif kind is bool:
            values.append(b"t" if value else b"f")
        else:
            return None
    return values


class Member:
    """One write of a group sharing a transaction, in its savepoint (store/group_commit.py)."""

    __slots__ = ("error", "finished", "sent")

    def __init__(self) -> None:
        self.sent = False  # its SAVEPOINT has gone to PostgreSQL
        self.finished = False  # its write is done; its last statements may still wait
        #: The error of one of its statements that failed after it finished: its savepoint was
        #: rolled back; raised to it after the group's COMMIT.
        self.error: BaseException | None = None


class _Session:
    """What this module keeps on one DBAPI connection."""

    __slots__ = ("at_commit", "driver", "later", "member", "on_undone", "prepared", "usable",
                 "watch")

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.prepared: set[bytes] = set()
        #: Statements sent with the next one that has an answer, or with the COMMIT; with
        #: where their rows go (`Ahead`), if anyone reads them, and the member that made them.
        self.later: list[_Waiting] = []
        #: Statements sent with the COMMIT only (the audit chain's lock and rows: a group takes
        #: that lock last, as a single write does, and no other lock after it).
        self.at_commit: list[_Waiting] = []
        #: The member whose write runs now (its statements are its own), if any.
        self.member: Member | None = None
        #: Called when a member's savepoint is rolled back (what the transaction noted of it,
        #: such as model summaries and row locks, is no longer so).
        self.on_undone: Callable[[], None] | None = None
        # Text results are decoded as UTF-8 below; another client encoding keeps the cursor.
        self.usable = driver.info.encoding == "utf-8"
        #: The socket's registration with the event loop while a group's writes use it.
        self.watch: cooperative.Watch | None = None


def session_of(fairy: Any) -> _Session:
    """The session kept in a pooled connection's `info`, for the DBAPI connection it holds."""
    driver = fairy.dbapi_connection
    session: _Session | None = fairy.info.get(_SESSION)
    if session is None or session.driver is not driver:
        session = fairy.info[_SESSION] = _Session(driver)
    return session


def _begin(driver: Any) -> bytes:
    """The BEGIN psycopg would send: with the session's isolation level and access mode."""
    parts = [b"BEGIN"]
    if driver.isolation_level is not None:
        parts += [b"ISOLATION LEVEL", driver.isolation_level.name.replace("_", " ").encode()]
    if driver.read_only is not None:
        parts.append(b"READ ONLY" if driver.read_only else b"READ WRITE")
    if driver.deferrable is not None:
        parts.append(b"DEFERRABLE" if driver.deferrable else b"NOT DEFERRABLE")
    return b" ".join(parts)


class Ahead:
    """The rows of a statement that waits on the connection (`later`): read with the next round
    trip, in order with the statements around it. `rows()` sends the waiting ones if needed."""

    __slots__ = ("_rows", "_session")

    def __init__(self, session: _Session) -> None:
        self._session = session
        self._rows: list[tuple[Any, ...]] | None = None

    def rows(self) -> list[tuple[Any, ...]]:
        if self._rows is None and self._session.later:
            _run(self._session, []).clear()
        if self._rows is None:
            raise errors.InterfaceError("a read sent ahead was not answered (its transaction "
                                        "failed or was rolled back)")
        return self._rows


def later(session: _Session, statement: Statement, values: Values,
          ahead: Ahead | None = None, at_commit: bool = False) -> None:
    waiting = (statement, values, ahead, session.member)
    (session.at_commit if at_commit else session.later).append(waiting)


def _utility(sql: bytes) -> Statement:
    statement = Statement(sql.decode(), ())
    statement.name = b""  # not prepared: sent as it is
    return statement


_SAVEPOINT_STATEMENT = _utility(b"SAVEPOINT modelyard_member")
_RELEASE_STATEMENT = _utility(b"RELEASE SAVEPOINT modelyard_member")
#: A member's write undone: back to its savepoint (the innermost one: every member before it
#: released its own), which then goes.
_ROLL_BACK: list[_Waiting] = [
    (_utility(b"ROLLBACK TO SAVEPOINT modelyard_member"), [], None, None),
    (_RELEASE_STATEMENT, [], None, None)]
#: Taken first by a group's transaction (any number; not the audit chain's or the migrations'):
#: one group at a time across processes, so that two groups, each holding several models' row
#: locks, never wait for each other's (a deadlock PostgreSQL would end after a second).
_GROUP_LOCK_STATEMENT = _utility(b"SELECT pg_advisory_xact_lock(1735553909)")


def lock_group(info: dict[str, Any]) -> None:
    """A group's transaction begins: take the groups' lock, sent with its first statement."""
    later(info[_SESSION], _GROUP_LOCK_STATEMENT, [])


def begin_member(info: dict[str, Any], member: Member) -> None:
    """Start `member`'s write on a connection (its `info`): in a savepoint, sent with its first
    statement."""
    session: _Session = info[_SESSION]
    session.member = member
    later(session, _SAVEPOINT_STATEMENT, [])


def end_member(info: dict[str, Any], member: Member) -> None:
    """`member`'s write is done: its savepoint is released after its last statement."""
    session: _Session = info[_SESSION]
    later(session, _RELEASE_STATEMENT, [])
    member.finished = True
    session.member = None


def _undo(session: _Session, member: Member) -> None:
    """Forget what `member` left to send, and what the transaction noted of it (`on_undone`);
    rolling back to its savepoint (`_ROLL_BACK`) is the caller's."""
    session.later = [waiting for waiting in session.later if waiting[3] is not member]
    session.at_commit = [waiting for waiting in session.at_commit if waiting[3] is not member]
    if session.on_undone is not None:
        session.on_undone()


def undo_member(info: dict[str, Any], member: Member) -> None:
    """`member`'s write failed: what it did is undone (its waiting statements dropped; if its
    savepoint was sent, rolled back to it, sent with the next statement)."""
    session: _Session = info[_SESSION]
    session.member = None
    _undo(session, member)
    if member.sent:
        session.later += _ROLL_BACK


def send_waiting(info: dict[str, Any]) -> None:
    """Send the statements waiting on a connection (its `info`) now, before one run another
    way (psycopg's cursor, SQLAlchemy)."""
    session: _Session | None = info.get(_SESSION)
    if session is not None and session.later:
        _run(session, []).clear()


def commit_waiting(info: dict[str, Any]) -> None:
    """Before a connection's COMMIT: the waiting statements and the COMMIT, in one round trip.
    The connection is then out of its transaction, so the driver's commit sends nothing."""
    session: _Session | None = info.get(_SESSION)
    if session is None or not (session.later or session.at_commit):
        return
    if session.driver.pgconn.transaction_status != pq.TransactionStatus.INTRANS:
        # Nothing begun (autocommit): they run on their own.
        session.later += session.at_commit
        session.at_commit = []
        _run(session, []).clear()
        return
    _run(session, [], commit=True).clear()


def forget_waiting(info: dict[str, Any]) -> None:
    """Drop the statements waiting on a connection: its transaction is rolled back, or it is
    checked out afresh."""
    session: _Session | None = info.get(_SESSION)
    if session is not None:
        session.later.clear()
        session.at_commit.clear()


def rows(session: _Session, statement: Statement, values: Values) -> list[tuple[Any, ...]]:
    result = _run(session, [(statement, values, None, session.member)])
    try:
        return _rows(session, result)
    finally:
        result.clear()


def affected(session: _Session, statement: Statement, values: Values) -> int:
    result = _run(session, [(statement, values, None, session.member)])
    count = result.command_tuples
    result.clear()
    return count if count is not None else -1


def _run(session: _Session, last: list[_Waiting], commit: bool = False) -> pq.abc.PGresult:
    """Run the waiting statements, then `last` (none or one), in one pipeline; the last
    statement's result (or the COMMIT's, or the last waiting one's). Reads sent ahead get
    their rows."""
    batch = session.later + last
    session.later = []
    if commit:
        batch += session.at_commit
        session.at_commit = []
    return _send(session, batch, commit)


def _send(session: _Session, batch: list[_Waiting], commit: bool) -> pq.abc.PGresult:
    pgconn = session.driver.pgconn
    #: Per query sent, in order: the name it prepares, or where its rows go, or None; and the
    #: index in `batch` of the statement it is for (None: the BEGIN, the COMMIT).
    owners: list[bytes | Ahead | None] = []
    entries: list[int | None] = []
    pgconn.enter_pipeline_mode()
    try:
        if not session.driver.autocommit and \
                pgconn.transaction_status == pq.TransactionStatus.IDLE:
            pgconn.send_query_params(_begin(session.driver), None)
            owners.append(None)
            entries.append(None)
        for index, (statement, values, ahead, member) in enumerate(batch):
            name = statement.name
            if not name:
                pgconn.send_query_params(statement.sql, values)
            else:
                if name not in session.prepared and len(session.prepared) < MAX_PREPARED:
                    pgconn.send_prepare(name, statement.sql)
                    owners.append(name)
                    entries.append(index)
                    session.prepared.add(name)  # forgotten below if it did not take effect
                if name in session.prepared:
                    pgconn.send_query_prepared(name, values)
                else:
                    pgconn.send_query_params(statement.sql, values)
            owners.append(ahead)
            entries.append(index)
            if member is not None:
                member.sent = True
        if commit:
            pgconn.send_query_params(b"COMMIT", None)
            owners.append(None)
            entries.append(None)
        pgconn.pipeline_sync()
        pgconn.flush()
        results = _results(pgconn, len(owners), _waiting_for(session))
    except BaseException:
        session.prepared.difference_update(o for o in owners if isinstance(o, bytes))
        raise
    finally:
        _leave_pipeline(pgconn)
    failure: pq.abc.PGresult | None = None
    failed_at: int | None = None
    for result, owner, entry in zip(results, owners, entries, strict=True):
        good = result.status in (_OK, _ROWS)
        if not good and isinstance(owner, bytes):
            # Refused, or not run after an earlier failure: prepare it again next time. (A
            # PREPARE that succeeded stays, even if its transaction is rolled back.)
            session.prepared.discard(owner)
        elif good and isinstance(owner, Ahead):
            owner._rows = _rows(session, result)
        if failure is None and not good:
            failure, failed_at = result, entry
        elif result is not results[-1]:
            result.clear()
    if failure is not None:
        error = errors.error_from_result(failure, encoding="utf-8")
        failure.clear()
        if failed_at is not None and (member := batch[failed_at][3]) is not None \
                and member.finished:
            return _undo_finished(session, batch, failed_at, member, error, commit)
        raise error
    if not results:  # nothing was sent
        raise errors.InterfaceError("no statement to run")
    return results[-1]


def _undo_finished(session: _Session, batch: list[_Waiting], failed_at: int,
                   member: Member, error: BaseException, commit: bool) -> pq.abc.PGresult:
    """A statement of a member whose write is done failed (sent with another member's, or with
    the COMMIT): roll it back to its savepoint (the innermost: every member before it released
    its own), keep its error for it, and send again what came after it, of the others."""
    member.error = error
    _undo(session, member)  # what it left for the COMMIT
    again = [waiting for waiting in batch[failed_at + 1:] if waiting[3] is not member]
    return _send(session, [*_ROLL_BACK, *again], commit)


def _waiting_for(session: _Session) -> Callable[[], object]:
    """How a round trip on the session waits for its answer: a handler in its turn of a group
    (store/group_commit.py) is suspended, the loop serving other requests meanwhile; any
    other caller blocks."""
    if not cooperative.may_suspend_in_turn():
        socket = session.driver.pgconn.socket
        return lambda: cooperative.poll_readable(socket)
    if session.watch is None:
        session.watch = cooperative.Watch(session.driver.pgconn.socket)
    return session.watch.wait


def stop_watching(info: dict[str, Any]) -> None:
    """The group's writes are done with the connection: unregister its socket."""
    session: _Session | None = info.get(_SESSION)
    if session is not None and session.watch is not None:
        session.watch.close()
        session.watch = None


def _results(pgconn: Any, count: int, wait: Callable[[], object]) -> list[pq.abc.PGresult]:
    """The `count` results of a pipeline (one per query: its result, then a NULL), then the
    sync's. A query after a failed one answers PIPELINE_ABORTED."""
    results: list[pq.abc.PGresult] = []
    while True:
        # Waited for here, not in libpq's PQgetResult, which holds Python's lock meanwhile:
        # the server's other threads (webhook deliveries, sweepers) run during the wait.
        while pgconn.is_busy():
            wait()
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            if pgconn.status != pq.ConnStatus.OK:
                message = pgconn.get_error_message().decode(errors="replace")
                raise errors.OperationalError(message or "the connection to PostgreSQL was lost")
            continue  # the end of one query's results
        if len(results) < count:
            results.append(result)
            continue
        status = result.status
        result.clear()
        if status == _SYNC:
            return results


def _leave_pipeline(pgconn: Any) -> None:
    if pgconn.pipeline_status == pq.PipelineStatus.OFF:
        return
    try:
        pgconn.exit_pipeline_mode()
    except Exception:
        # Results left unread (the connection broke half-way): it cannot be used again;
        # closing it makes the pool replace it.
        pgconn.finish()


# Results are text; the registry's columns are a handful of types, converted here, and any other
# type by psycopg's own loader for it.
_TEXT_OIDS = frozenset({25, 1043, 19, 1042})  # text, varchar, name, char(n)
_INT_OIDS = frozenset({20, 21, 23, 26})  # int8, int2, int4, oid
_JSON_OIDS = frozenset({114, 3802})  # json, jsonb


def _text(value: bytes) -> str:
    return value.decode()


def _bool(value: bytes) -> bool:
    return value == b"t"


def text_converter(oid: int) -> Callable[[bytes], Any] | None:
    """How a text result of the PostgreSQL type `oid` becomes its Python value, for the types
    the registry's columns use (None for another type). Also the point reads'
    (store/libpq_reads.py)."""
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
    return None


def _converter(session: _Session, oid: int) -> Callable[[bytes], Any]:
    convert = text_converter(oid)
    if convert is not None:
        return convert
    loader = session.driver.adapters.get_loader(oid, pq.Format.TEXT)
    if loader is None:
        return _text
    load: Callable[[bytes], Any] = loader(oid, session.driver).load
    return load


def _rows(session: _Session, result: pq.abc.PGresult) -> list[tuple[Any, ...]]:
    if result.status != _ROWS:
        return []
    convert = [_converter(session, result.ftype(column)) for column in range(result.nfields)]
    get = result.get_value
    return [tuple(None if (value := get(row, column)) is None else to(value)
                  for column, to in enumerate(convert))
            for row in range(result.ntuples)]
