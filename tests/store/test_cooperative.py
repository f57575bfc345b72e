"""Handlers in greenlets: a wait on a socket lets the event loop run, unless the handler holds."""

from __future__ import annotations

import asyncio
import contextvars
import socket

import pytest
from greenlet import getcurrent

from modelyard.store.cooperative import can_suspend, holding, run_cooperatively, wait_readable
from tests.support.asyncio_thread import run_async


def _handler(sock: socket.socket, events: list[str], hold: bool) -> str:
    events.append("handler waits")
    if hold:
        with holding():
            assert not can_suspend()
            wait_readable(sock.fileno())
    else:
        assert can_suspend()
        wait_readable(sock.fileno())
    events.append("handler reads")
    return sock.recv(10).decode()


async def _scenario(hold: bool) -> tuple[str, list[str]]:
    reader, writer = socket.socketpair()
    events: list[str] = []

    async def other_request() -> None:
        events.append("other request runs")
        writer.send(b"answer")

    if hold:
        writer.send(b"answer")  # else the blocking wait below would never end
    other = asyncio.get_running_loop().call_soon(
        lambda: asyncio.ensure_future(other_request()))
    try:
        result = await run_cooperatively(_handler, reader, events, hold)
        await asyncio.sleep(0)
        return result, events
    finally:
        other.cancel()
        reader.close()
        writer.close()


def test_a_waiting_handler_lets_other_requests_run() -> None:
    result, events = run_async(_scenario(hold=False))
    assert result == "answer"
    assert events == ["handler waits", "other request runs", "handler reads"]


def test_a_handler_holding_a_connection_waits_without_letting_others_run() -> None:
    result, events = run_async(_scenario(hold=True))
    assert result == "answer"
    assert events[:2] == ["handler waits", "handler reads"]


def test_outside_a_handler_a_wait_blocks() -> None:
    reader, writer = socket.socketpair()
    with reader, writer:
        writer.send(b"x")
        assert not can_suspend()
        wait_readable(reader.fileno())
        assert reader.recv(1) == b"x"


def test_errors_and_results_come_back_to_the_caller() -> None:
    def fails() -> None:
        raise ValueError("from the handler")

    with pytest.raises(ValueError, match="from the handler"):
        run_async(run_cooperatively(fails))
    assert run_async(run_cooperatively(lambda a, b: a + b, 2, 3)) == 5


_REQUEST_MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="unset")


def test_handler_greenlets_are_reused_and_start_each_request_afresh() -> None:
    """A handler's greenlet serves the next request (no new frame stack per request), with no
    context variable left from the one before; a handler still suspended gets a greenlet of its
    own."""
    def marks(mark: str) -> tuple[object, str]:
        seen = _REQUEST_MARK.get()
        _REQUEST_MARK.set(mark)
        return getcurrent(), seen

    async def scenario() -> None:
        first, seen_first = await run_cooperatively(marks, "first")
        second, seen_second = await run_cooperatively(marks, "second")
        assert second is first and seen_first == seen_second == "unset"

        reader, writer = socket.socketpair()
        with reader, writer:
            def waits() -> object:
                wait_readable(reader.fileno())
                return getcurrent()
            waiting = asyncio.ensure_future(run_cooperatively(waits))
            await asyncio.sleep(0)  # the waiting handler is suspended in its greenlet
            meanwhile, _ = await run_cooperatively(marks, "third")
            writer.send(b"x")
            assert await waiting is not meanwhile

    run_async(scenario())


def test_a_coroutine_handler_runs_in_a_greenlet_with_its_awaits_on_the_loop() -> None:
    """A page's async handler runs to its end in a handler greenlet (its synchronous writes
    then wait as any handler's do): its awaits (a bare yield, a future, a gather of tasks) are
    answered by the loop, it sees the request's context variables, and its error comes back."""
    async def page(mark: str) -> tuple[bool, str, list[int]]:
        in_greenlet = can_suspend()  # only in a handler greenlet: its waits may suspend it
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        later = loop.create_future()
        loop.call_later(0.01, later.set_result, 7)

        async def double(n: int) -> int:
            await asyncio.sleep(0.001)
            return 2 * n

        values = list(await asyncio.gather(double(1), double(2)))
        return in_greenlet, f"{mark}:{_REQUEST_MARK.get()}", [await later, *values]

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("from the page")

    async def scenario() -> tuple[bool, str, list[int]]:
        _REQUEST_MARK.set("request")
        with pytest.raises(ValueError, match="from the page"):
            await run_cooperatively(fails)
        result: tuple[bool, str, list[int]] = await run_cooperatively(page, "page")
        return result

    in_greenlet, marks, values = run_async(scenario())
    assert in_greenlet
    assert marks == "page:request"
    assert values == [7, 2, 4]
