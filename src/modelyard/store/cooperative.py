"""Let the event loop serve other requests while a request's point read waits on PostgreSQL.

Handlers are synchronous and run on the event loop. A point read on PostgreSQL spends ~40% of its
time waiting for the database; blocking the loop meanwhile serialized every request behind that
wait (one worker served 2,400 point reads/s with the CPU half idle, and at concurrency 8 every
request queued behind seven waits: p99 5-8 ms, budget 5; bench/, issue 6). So on PostgreSQL each
handler runs in a greenlet (the library SQLAlchemy's asyncio support is built on), and a point
read that must wait for its answer hands the loop a future for the socket instead of blocking.

Only a handler that holds no database connection, lock or transaction may be suspended: another
request, run meanwhile, could otherwise block the loop on what the suspended one holds, which
could then never resume. `Database.read()`/`write()` mark their extent with `holding()`; inside
it, and outside a handler greenlet (threads, the CLI), waits block as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import select
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

T = TypeVar("T")


class _Handler(greenlet):
    """A handler's greenlet: it may suspend itself while it holds nothing."""

    holding = 0


class _Finished:
    """What a handler greenlet hands the loop when `fn` has returned or raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value, self.error = value, error


def _serve(task: tuple[Callable[..., Any], tuple[Any, ...]]) -> None:
    """The life of a handler greenlet: run one `fn(*args)` per switch into it, for ever.

    Handler greenlets are kept and reused (`_Idle`): a new greenlet gets a new chunk of
    Python's frame stack, which the interpreter maps and unmaps (an mmap, a munmap and its
    page faults per request: ~0.06 ms of a PostgreSQL write's CPU, bench/RESULTS.md issue 21)."""
    while True:
        fn, args = task
        try:
            outcome = _Finished(fn(*args), None)
        except BaseException as error:  # handed to the loop, which raises it in the request
            outcome = _Finished(None, error)
        del fn, args
        task = getcurrent().parent.switch(outcome)


class _Idle(threading.local):
    """Handler greenlets waiting for their next request, at most `_KEEP`: per thread, as a
    greenlet runs only in the thread that made it (the loop's; tests run loops in others)."""

    def __init__(self) -> None:
        self.handlers: list[_Handler] = []


_idle = _Idle()
_KEEP = 64


async def run_cooperatively(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a greenlet that may hand the loop awaitables (see `wait_readable`)."""
    idle = _idle.handlers
    handler = idle.pop() if idle else _Handler(_serve)
    # Each request starts with no context variables set, as a new greenlet would.
    handler.gr_context = contextvars.Context()
    value = handler.switch((fn, args))
    while not isinstance(value, _Finished):
        # The handler is suspended on `value`, an awaitable: resume it with what it yields.
        try:
            outcome = await value
        except BaseException as error:  # CancelledError too: the handler cleans up
            value = handler.throw(error)
        else:
            value = handler.switch(outcome)
    if len(idle) < _KEEP:
        idle.append(handler)
    if value.error is not None:
        raise value.error
    result: T = value.value
    return result


def can_suspend() -> bool:
    """Whether `wait_readable` here would let the loop run other requests."""
    current = getcurrent()
    return isinstance(current, _Handler) and current.holding == 0


def poll_readable(fd: int, timeout_ms: int | None = None) -> bool:
    """Whether `fd` is readable within `timeout_ms` (None: wait until it is), blocking."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout_ms))


def wait_readable(fd: int) -> None:
    """Return once `fd` is readable: suspended in a free handler greenlet, else blocking."""
    if not can_suspend():
        poll_readable(fd)
        return
    current = getcurrent()
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def on_readable() -> None:
        loop.remove_reader(fd)
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, on_readable)
    try:
        current.parent.switch(ready)
    finally:
        loop.remove_reader(fd)  # if the wait ended otherwise (cancelled)


def in_handler() -> bool:
    """Whether this runs in a handler greenlet on the event loop (one that may `wait_for`)."""
    return isinstance(getcurrent(), _Handler)


def wait_for(awaitable: Awaitable[T]) -> T:
    """Suspend this handler greenlet until `awaitable` is done: its result, or its exception
    raised here. Unlike `wait_readable`, also while the handler holds a transaction: for the
    group commit (store/group_commit.py), whose transaction the requests run meanwhile share
    and the loop itself ends, so none of them can block on what this one holds."""
    result: T = getcurrent().parent.switch(awaitable)
    return result


@contextmanager
def holding() -> Iterator[None]:
    """Mark that the current handler holds a connection, lock or transaction."""
    current = getcurrent()
    if not isinstance(current, _Handler):
        yield
        return
    current.holding += 1
    try:
        yield
    finally:
        current.holding -= 1
