"""Prepared reads on libpq: overlapping waits in handlers, cancellation, and their sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from modelyard.store.cooperative import run_cooperatively
from modelyard.store.libpq_reads import LibpqPreparedReads
from tests.support import postgres
from tests.support.asyncio_thread import run_async

STATEMENTS = {
    "sleep": ("SELECT $1::int AS tag, 'ü'::text AS word FROM pg_sleep($2::float8)",
              ["tag", "seconds"]),
}


@pytest.fixture()
def reads(pg_available: bool) -> Iterator[tuple[LibpqPreparedReads, list[Any]]]:
    if not pg_available:
        pytest.skip("PostgreSQL not reachable")
    opened: list[Any] = []

    def connect() -> Any:
        opened.append(psycopg.connect(postgres.ADMIN_DSN))
        return opened[-1]

    try:
        yield LibpqPreparedReads(connect, STATEMENTS), opened
    finally:
        for connection in opened:
            connection.close()


def _read(reads: LibpqPreparedReads, tag: int, seconds: float) -> list[tuple[Any, ...]]:
    return reads.rows("sleep", {"tag": tag, "seconds": seconds})


def test_a_slow_read_does_not_hold_up_a_quick_one(
        reads: tuple[LibpqPreparedReads, list[Any]]) -> None:
    reader, opened = reads
    finished: list[int] = []

    async def request(tag: int, seconds: float) -> None:
        rows = await run_cooperatively(_read, reader, tag, seconds)
        assert rows == [(tag, "ü")]
        finished.append(tag)

    async def main() -> None:
        await asyncio.gather(request(1, 0.5), request(2, 0.0), request(3, 0.0))

    run_async(main())
    assert finished[-1] == 1  # the slow read, started first, answered last
    assert len(opened) == 3  # one session per read in flight
    run_async(main())
    assert len(opened) == 3  # and they are used again


def test_a_cancelled_read_leaves_no_half_read_session_behind(
        reads: tuple[LibpqPreparedReads, list[Any]]) -> None:
    reader, opened = reads

    async def main() -> list[tuple[Any, ...]]:
        slow = asyncio.ensure_future(run_cooperatively(_read, reader, 1, 5.0))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return await run_cooperatively(_read, reader, 2, 0.0)

    assert run_async(main()) == [(2, "ü")]
    assert opened[0].closed and not opened[1].closed


def test_reads_outside_a_handler_block_and_answer(
        reads: tuple[LibpqPreparedReads, list[Any]]) -> None:
    reader, opened = reads
    assert _read(reader, 7, 0.0) == [(7, "ü")]
    assert _read(reader, 8, 0.0) == [(8, "ü")]
    assert len(opened) == 1
