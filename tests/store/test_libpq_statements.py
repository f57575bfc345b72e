"""PostgreSQL writes on libpq (store/libpq_statements.py, compiled.py): statements whose answer
nobody reads wait on the connection and go with the next statement or the COMMIT; and request
handlers write on a kept connection (Database._KeptWriters).

On a real PostgreSQL database; handlers run as the server runs them (run_cooperatively on an
event loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
)

from modelyard.domain.errors import InvalidArgument, Unavailable
from modelyard.store.compiled import execute_later, fetch_all, insert_rows
from modelyard.store.cooperative import run_cooperatively
from modelyard.store.database import Database
from tests.support import postgres
from tests.support.asyncio_thread import run_async

metadata = MetaData()
t = Table("t", metadata, Column("name", String(10), primary_key=True), Column("n", Integer))

_INSERT = insert(t).values(name=bindparam("name"), n=bindparam("n"))
_COUNT = select(t.c.name).order_by(t.c.name)


@pytest.fixture()
def database(pg_available: bool) -> Iterator[Database]:
    if not pg_available:
        pytest.skip("PostgreSQL not reachable")
    name, url = postgres.create_database()
    database = Database(url)
    with database.write() as conn:
        metadata.create_all(conn)
    try:
        yield database
    finally:
        database.dispose()
        postgres.drop_database(name)


def _names(database: Database) -> list[str]:
    """What a reader on another connection sees: committed rows only."""
    with database.read() as conn:
        return [row[0] for row in conn.execute(_COUNT)]


def _later(conn: Any, name: str, n: int = 0) -> None:
    execute_later(conn, "test_insert", lambda: _INSERT, {"name": name, "n": n})


def _in_handler(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` as a request handler runs: in a handler greenlet on an event loop."""
    return run_async(run_cooperatively(fn, *args))


def test_waiting_statements_commit_with_the_transaction_in_order(database: Database) -> None:
    def write() -> list[str]:
        with database.write() as conn:
            _later(conn, "a")
            _later(conn, "b")
            # A statement with an answer sends what waits first: it sees both rows.
            seen = [row[0] for row in fetch_all(conn, "test_names", lambda: _COUNT, {})]
            _later(conn, "c")
            insert_rows(conn, t, [{"name": "d", "n": 1}, {"name": "e", "n": 2}])
            assert _names(database) == []  # nothing is visible before the COMMIT
        return seen

    assert _in_handler(write) == ["a", "b"]
    assert _names(database) == ["a", "b", "c", "d", "e"]


def test_a_statement_run_by_sqlalchemy_sees_the_waiting_ones(database: Database) -> None:
    with database.write() as conn:
        _later(conn, "a")
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    assert _names(database) == ["a"]


def test_a_failed_write_leaves_nothing_and_its_waiting_statements_are_dropped(
        database: Database) -> None:
    def failing() -> None:
        with database.write() as conn:
            _later(conn, "x")
            raise ValueError("the handler failed")

    def next_write() -> None:
        with database.write() as conn:
            _later(conn, "y")

    with pytest.raises(ValueError):
        _in_handler(failing)
    _in_handler(next_write)
    assert _names(database) == ["y"]  # "x" was not sent with the next transaction


def test_a_waiting_statement_that_fails_fails_the_whole_write(database: Database) -> None:
    def duplicate() -> None:
        with database.write() as conn:
            _later(conn, "a")
            _later(conn, "a")  # a unique violation, raised by the COMMIT's round trip

    with pytest.raises(psycopg.errors.UniqueViolation):
        _in_handler(duplicate)
    assert _names(database) == []
    _in_handler(lambda: _write_one(database, "b"))  # the kept connection still works
    assert _names(database) == ["b"]


def _write_one(database: Database, name: str) -> None:
    with database.write() as conn:
        _later(conn, name)


def test_bad_values_are_the_callers_error(database: Database) -> None:
    with pytest.raises(InvalidArgument, match="too long"):
        _in_handler(lambda: _write_one(database, "x" * 11))  # beyond VARCHAR(10)
    with pytest.raises(InvalidArgument, match="NUL"):
        _in_handler(lambda: _write_one(database, "a\x00b"))  # libpq would cut it at the NUL
    assert _names(database) == []


def test_a_statement_not_prepared_because_of_an_earlier_failure_is_prepared_next_time(
        database: Database) -> None:
    def failing_then_new_statement() -> None:
        with database.write() as conn:
            _later(conn, "a")
            _later(conn, "a")  # fails: the statement after it is not run, nor prepared
            execute_later(conn, "test_update", lambda: t.update().values(n=bindparam("n")),
                          {"n": 5})

    def update() -> None:
        with database.write() as conn:
            _later(conn, "b")
            execute_later(conn, "test_update", lambda: t.update().values(n=bindparam("n")),
                          {"n": 7})

    with pytest.raises(psycopg.errors.UniqueViolation):
        _in_handler(failing_then_new_statement)
    _in_handler(update)  # would fail if the aborted PREPARE were taken as done
    with database.read() as conn:
        assert conn.execute(select(t.c.name, t.c.n)).all() == [("b", 7)]


def test_a_handlers_kept_connection_ended_by_the_server_is_replaced(
        database: Database) -> None:
    def backend() -> int:
        with database.write() as conn:
            _later(conn, f"p{len(_names(database))}")
            pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            return pid

    first = _in_handler(backend)
    assert _in_handler(backend) == first  # kept between a handler's writes
    with psycopg.connect(postgres.ADMIN_DSN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [first])
        # pg_terminate_backend only signals: wait until the session has ended (a restart, an
        # administrator's kill, seen by the next request some time later).
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                            [first]).fetchone() and time.monotonic() < deadline:
            time.sleep(0.01)
    replaced = _in_handler(backend)  # not a failed request: a new session
    assert replaced != first
    assert _names(database) == ["p0", "p1", "p2"]


def test_a_write_nested_in_a_handlers_write_has_a_connection_of_its_own(
        database: Database) -> None:
    def nested() -> tuple[int, int]:
        with database.write() as outer:
            _later(outer, "outer")
            with database.write() as inner:
                _later(inner, "inner")
                inner_pid = inner.execute(text("SELECT pg_backend_pid()")).scalar_one()
            outer_pid = outer.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return outer_pid, inner_pid

    outer_pid, inner_pid = _in_handler(nested)
    assert outer_pid != inner_pid
    assert _names(database) == ["inner", "outer"]


def test_statements_stay_prepared_after_a_rollback_of_sqlalchemy_statements(
        database: Database) -> None:
    def statements_then_failure() -> None:
        with database.write() as conn:
            _later(conn, "a")
            for _ in range(8):  # what psycopg would have prepared (and deallocated on rollback)
                conn.execute(text("SELECT count(*) FROM t")).scalar_one()
            raise ValueError("rolled back")

    with pytest.raises(ValueError):
        _in_handler(statements_then_failure)
    _in_handler(lambda: _write_one(database, "b"))
    _in_handler(lambda: _write_one(database, "c"))
    assert _names(database) == ["b", "c"]


def test_a_read_sent_ahead_is_answered_in_order_with_the_statements_around_it(
        database: Database) -> None:
    from modelyard.store.compiled import fetch_ahead

    def write() -> tuple[list[str], list[str], list[str]]:
        with database.write() as conn:
            _later(conn, "a")
            ahead = fetch_ahead(conn, "test_names", lambda: _COUNT, {})
            _later(conn, "b")
            everything = [row[0] for row in fetch_all(conn, "test_names", lambda: _COUNT, {})]
            # Nothing waits after it: its rows() sends it on its own.
            alone = fetch_ahead(conn, "test_names", lambda: _COUNT, {})
            return ([row[0] for row in ahead.rows()], everything,
                    [row[0] for row in alone.rows()])

    ahead, everything, alone = _in_handler(write)
    assert ahead == ["a"]  # run after "a" and before "b", as written
    assert everything == alone == ["a", "b"]


# ---- the group commit on PostgreSQL (store/group_commit.py) -------------------------------

_TRANSACTION = text("SELECT txid_current()")


def _group_member(database: Database, name: str, failure: str | None = None,
                  answered: bool = True) -> tuple[int, list[str]]:
    """A handler: insert `name` (waiting), read its transaction's id (a statement with an
    answer, unless `answered` is False), then fail as asked: "late" inserts a value too long
    for the column, which only PostgreSQL refuses, after the write is done; "python" raises
    after the write's first round trip. Answers the transaction id and what a reader sees
    after the write."""
    with database.write() as conn:
        _later(conn, name)
        transaction = conn.execute(_TRANSACTION).scalar_one() if answered else 0
        if failure == "late":
            _later(conn, name + "-much-too-long")
        if failure == "python":
            raise ValueError(f"{name} refused")
    return transaction, _names(database)


def _served_together(database: Database, *writes: tuple[Any, ...]) -> list[Any]:
    async def scenario() -> list[Any]:
        handlers = [asyncio.ensure_future(run_cooperatively(_group_member, database, *write))
                    for write in writes]
        return await asyncio.gather(*handlers, return_exceptions=True)
    return list(run_async(scenario()))


def test_handlers_served_together_share_one_commit_and_answer_after_it(
        database: Database) -> None:
    outcomes = _served_together(database, ("a",), ("b",), ("c",))
    transactions = {transaction for transaction, _ in outcomes}
    assert len(transactions) == 1  # one transaction, one COMMIT
    # Each answers once every write of the group is durable.
    assert [seen for _, seen in outcomes] == [["a", "b", "c"]] * 3


def test_a_write_whose_statement_fails_after_it_is_done_fails_alone(
        database: Database) -> None:
    """a's too-long value goes to PostgreSQL with b's first statement: a is rolled back to its
    savepoint and gets its own error (a 400) after the COMMIT; b's statement is sent again, and
    b and c are kept."""
    a, b, c = _served_together(database, ("a", "late", False), ("b",), ("c",))
    assert isinstance(a, InvalidArgument) and "too long" in str(a)
    assert b[1] == c[1] == ["b", "c"]
    assert _names(database) == ["b", "c"]


def test_the_last_writes_failure_at_the_commit_is_its_own(database: Database) -> None:
    a, b = _served_together(database, ("a",), ("b", "late"))
    assert isinstance(b, InvalidArgument)
    assert a[1] == ["a"] and _names(database) == ["a"]


def test_a_write_that_fails_in_the_group_rolls_back_alone(database: Database) -> None:
    a, b, c = _served_together(database, ("a",), ("b", "python"), ("c",))
    assert isinstance(b, ValueError)
    assert a[0] == c[0] and a[1] == c[1] == ["a", "c"]
    assert _names(database) == ["a", "c"]


def test_statements_left_for_the_commit_go_with_it_only(database: Database) -> None:
    """What a write leaves for the COMMIT (the audit chain's lock and rows) is not sent with
    the statements before it: a group takes that lock last, after every row lock."""
    def write() -> list[str]:
        with database.write() as conn:
            execute_later(conn, "test_insert", lambda: _INSERT, {"name": "audit", "n": 0},
                          at_commit=True)
            _later(conn, "change")
            return [row[0] for row in fetch_all(conn, "test_names", lambda: _COUNT, {})]

    assert _in_handler(write) == ["change"]
    assert _names(database) == ["audit", "change"]


def test_a_groups_transaction_holds_the_groups_lock(database: Database) -> None:
    """One group at a time across processes: its transaction takes the groups' advisory lock,
    which another session sees held until the COMMIT."""
    seen: list[int] = []

    def write() -> None:
        with database.write() as conn:
            _later(conn, "a")
            conn.execute(_TRANSACTION)  # the first round trip: BEGIN, the lock, the row
            with psycopg.connect(database.url.replace("+psycopg", ""), autocommit=True) as other:
                seen.extend(row[0] for row in other.execute(
                    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted"))

    _in_handler(write)
    assert 1735553909 in seen


# ---- a group write's turn: suspended while it waits for PostgreSQL ------------------------

_SLEEP = select(func.pg_sleep(bindparam("ms", type_=Integer) / bindparam("per_second")))


def _slow_member(database: Database, name: str, seconds: float, events: list[str]
                 ) -> tuple[int, list[str]]:
    """A handler whose write waits `seconds` for PostgreSQL's answer (a compiled statement,
    as the registry's writes are) after inserting `name`."""
    with database.write() as conn:
        _later(conn, name)
        events.append(f"{name} waits")
        fetch_all(conn, "test_sleep", lambda: _SLEEP,
                  {"ms": round(seconds * 1000), "per_second": 1000})
        events.append(f"{name} answered")
        transaction = conn.execute(_TRANSACTION).scalar_one()
    return transaction, _names(database)


def test_a_group_write_waiting_for_postgresql_lets_the_loop_serve_others(
        database: Database) -> None:
    """While a's write waits for its answer, the loop runs other requests (a tick of its own
    here), and b's write waits for a's turn to end, then joins a's group: one transaction, one
    COMMIT, b's statements after a's."""
    events: list[str] = []

    async def scenario() -> list[Any]:
        async def tick() -> None:
            await asyncio.sleep(0.05)
            events.append("loop ticks")

        a = asyncio.ensure_future(run_cooperatively(_slow_member, database, "a", 0.4, events))
        await asyncio.sleep(0.01)  # a is suspended in its round trip
        b = asyncio.ensure_future(run_cooperatively(_slow_member, database, "b", 0, events))
        return list(await asyncio.gather(a, b, tick()))

    (a_transaction, a_seen), (b_transaction, b_seen), _ = run_async(scenario())
    assert events.index("loop ticks") < events.index("a answered")
    assert events.index("a answered") < events.index("b waits")  # one write at a time
    assert a_transaction == b_transaction
    assert a_seen == b_seen == ["a", "b"]


def test_a_write_outside_a_handler_during_a_turn_waits_for_a_lock_only_briefly(
        database: Database) -> None:
    """A write made on the loop's thread outside a handler cannot let the loop run the
    suspended group write whose row lock it waits for: it gives up after a bounded wait with
    a 503 to retry, instead of stopping the server; the group write is then kept."""
    events: list[str] = []
    outcome: list[BaseException] = []

    async def scenario() -> Any:
        a = asyncio.ensure_future(run_cooperatively(_slow_member, database, "a", 0.5, events))
        await asyncio.sleep(0.01)  # a's insert of "a" is sent; a is suspended

        try:  # on the loop, not in a handler: as an inline page or endpoint would write
            with database.write() as conn:
                conn.execute(_INSERT, {"name": "a", "n": 1})  # waits for a's row lock
        except Unavailable as error:
            outcome.append(error)
        return await a

    started = time.monotonic()
    _, seen = run_async(scenario())
    assert len(outcome) == 1 and "retry" in str(outcome[0])
    assert time.monotonic() - started < 10
    assert seen == ["a"] and _names(database) == ["a"]


def test_a_group_write_cancelled_while_it_waits_still_reads_its_answer(
        database: Database) -> None:
    """A request cancelled while its group write waits for PostgreSQL (the server shutting
    down) reads its round trip to the end: the group's connection stays usable, and the write
    and the next one that joined the group are committed."""
    events: list[str] = []

    async def scenario() -> list[Any]:
        a = asyncio.ensure_future(run_cooperatively(_slow_member, database, "a", 0.3, events))
        await asyncio.sleep(0.01)  # a is suspended in its round trip
        b = asyncio.ensure_future(run_cooperatively(_slow_member, database, "b", 0, events))
        await asyncio.sleep(0.01)
        a.cancel()
        return list(await asyncio.gather(a, b, return_exceptions=True))

    a, b = run_async(scenario())
    assert "a answered" in events
    assert not isinstance(a, BaseException) and a[1] == ["a", "b"]  # its write was finished
    assert not isinstance(b, BaseException) and b[1] == ["a", "b"]
    assert _names(database) == ["a", "b"]
