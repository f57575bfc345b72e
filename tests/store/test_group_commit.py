"""SQLite's group commit (store/group_commit.py): request handlers served together share one
COMMIT, each resumes only once its write is durable, and a write that fails rolls back alone.

Handlers run as the server runs them (store/cooperative.run_cooperatively on an event loop) on
a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from modelyard.domain.errors import Unavailable
from modelyard.store.cooperative import run_cooperatively
from modelyard.store.database import Database, sqlite_url_for
from tests.support.asyncio_thread import run_async


@pytest.fixture()
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(sqlite_url_for(tmp_path))
    with database.write() as conn:
        conn.execute(text("CREATE TABLE t (name TEXT PRIMARY KEY)"))
    yield database
    database.dispose()


def _names(database: Database) -> list[str]:
    """What a reader on a connection of its own sees: committed rows only."""
    with database.read() as conn:
        return sorted(row[0] for row in conn.execute(text("SELECT name FROM t")))


def _insert(database: Database, name: str, fail: bool = False) -> list[str]:
    """A handler: insert a row (then fail, if asked), and answer what a reader sees after."""
    with database.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (:name)"), {"name": name})
        if fail:
            raise ValueError(f"{name} refused")
    return _names(database)


def test_handlers_served_together_commit_together_and_answer_after_it(
        database: Database) -> None:
    async def scenario() -> list[object]:
        handlers = [asyncio.ensure_future(run_cooperatively(_insert, database, name, name == "b"))
                    for name in ("a", "b", "c")]
        return await asyncio.gather(*handlers, return_exceptions=True)

    answered_a, refused_b, answered_c = run_async(scenario())
    # Each answers after the one COMMIT of a and c: both rows are durable by then. b's write
    # failed and rolled back alone.
    assert answered_a == answered_c == ["a", "c"]
    assert isinstance(refused_b, ValueError)
    assert _names(database) == ["a", "c"]


def test_a_write_that_cannot_wait_commits_the_open_group_first(database: Database) -> None:
    """A write on the loop outside a handler, or in another thread, does not deadlock on the
    group's open transaction: the group commits first."""
    async def scenario() -> list[str]:
        handler = asyncio.ensure_future(run_cooperatively(_insert, database, "in-group"))
        await asyncio.sleep(0)  # the handler has written and waits for the group's COMMIT
        _insert(database, "on-the-loop")  # not in a handler greenlet: commits the group first
        second = asyncio.ensure_future(run_cooperatively(_insert, database, "second-group"))
        await asyncio.sleep(0)
        from_thread = await asyncio.to_thread(_insert, database, "from-a-thread")
        await asyncio.gather(handler, second)
        return from_thread

    seen_by_thread = run_async(scenario())
    assert seen_by_thread == ["from-a-thread", "in-group", "on-the-loop", "second-group"]
    assert _names(database) == seen_by_thread


def test_when_sqlite_undoes_the_shared_transaction_every_write_in_it_fails(
        database: Database) -> None:
    """A member's error after which SQLite rolled the whole transaction back (a full disk, an
    I/O error: here the same ROLLBACK, on the driver) must not leave the others answered as
    saved: each of them gets an outage (503) to retry; the next write starts afresh."""
    def undoes_everything() -> None:
        with database.write() as conn:
            conn.execute(text("INSERT INTO t VALUES ('doomed')"))
            conn.connection.driver_connection.execute("ROLLBACK")  # type: ignore[union-attr]
            raise OSError("disk full")

    async def scenario() -> list[object]:
        handlers = [asyncio.ensure_future(run_cooperatively(_insert, database, "first")),
                    asyncio.ensure_future(run_cooperatively(undoes_everything)),
                    asyncio.ensure_future(run_cooperatively(_insert, database, "third"))]
        return await asyncio.gather(*handlers, return_exceptions=True)

    first, undone, third = run_async(scenario())
    assert isinstance(undone, OSError)
    assert isinstance(first, Unavailable) and "Retry" in str(first)
    # The next write starts a transaction of its own, and is kept.
    assert third == ["third"]
    assert _names(database) == ["third"]
    assert _insert(database, "later") == ["later", "third"]
