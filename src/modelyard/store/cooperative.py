"""Let the event loop serve other requests while a request's point read waits on PostgreSQL.

Handlers are synchronous and run on the event loop. A point read on PostgreSQL spends ~40% of its
time waiting for the database; blocking the loop meanwhile serialized every request behind that
wait (one worker served 2,400 point reads/s with the CPU half idle, and at concurrency 8 every
request queued behind seven waits: p99 5-8 ms, budget 5; bench/, issue 6). So on PostgreSQL each
handler runs in a greenlet (the library SQLAlchemy's asyncio support is built on), and a point
read that must wait for its answer hands the loop a future for the socket instead of blocking.

Only a handler that holds no database connection, lock or transaction may be suspended: another
request, run meanwhile, could otherwise block the loop on what the suspended one holds, which
could then never resume. The one exception is a PostgreSQL group write in its turn
(`in_turn`, store/group_commit.py): what it holds, the other handlers wait for in turn, without
blocking the loop. `Database.read()`/`write()` mark their extent with `holding()`; inside
it, and outside a handler greenlet (threads, the CLI), waits block as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import select
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

T = TypeVar("T")


class _Handler(greenlet):
    """A handler's greenlet: it may suspend itself while it holds nothing, or while what it
    holds is its turn (`in_turn`), which the others wait for."""

    holding = 0
    in_turn = False


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


async def run_cooperatively(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a greenlet that may hand the loop awaitables (see `wait_readable`). A
    coroutine function runs there to its end, each of its awaits handed to the loop: its
    synchronous calls (a web form's write) then wait as any handler's do."""
    idle = _idle.handlers
    handler = idle.pop() if idle else _Handler(_serve)
    if inspect.iscoroutinefunction(fn):
        # Its awaits may read the request's context variables, as they would on the loop.
        handler.gr_context = contextvars.copy_context()
        args = (fn(*args),)
        fn = _complete
    else:
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
    return value.value


def _complete(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end in this handler greenlet: what each of its awaits yields (a
    future; None for a bare yield, `asyncio.sleep(0)`) is awaited by the loop meanwhile."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            waited = coroutine.throw(error) if error is not None else coroutine.send(value)
        except StopIteration as done:
            result: T = done.value
            return result
        value, error = None, None
        if waited is None:
            waited = asyncio.sleep(0)
        else:
            # As a task does with what a coroutine yields: the future is taken, not yielded
            # again (the loop's own await of it would otherwise refuse it).
            waited._asyncio_future_blocking = False
        try:
            value = wait_for(waited)
        except BaseException as raised:  # the future's error, or the request's cancellation
            error = raised


def can_suspend() -> bool:
    """Whether `wait_readable` here would let the loop run other requests."""
    current = getcurrent()
    return isinstance(current, _Handler) and current.holding == 0


def poll_readable(fd: int, timeout_ms: int | None = None) -> bool:
    """Whether `fd` is readable within `timeout_ms` (None: wait until it is), blocking."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout_ms))


def may_suspend_in_turn() -> bool:
    """Whether this handler holds only its turn (store/group_commit.GroupCommit.turn): its
    waits may suspend it."""
    current = getcurrent()
    return isinstance(current, _Handler) and current.in_turn


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


class Watch:
    """A socket registered with the event loop for as long as a group's writes use it: a
    handler in its turn waits on it without registering and unregistering the socket at each
    wait (two to three `epoll_ctl` calls each under uvloop). Between waits the socket has
    nothing to read (each wait's answer is read whole), so the loop is not woken for it."""

    __slots__ = ("_fd", "_loop", "_waiter")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def wait(self) -> None:
        """Suspend this handler until the socket is readable. A cancelled request (the server
        shutting down) still waits: a round trip once sent is read to its end, or the group's
        connection, which other requests' writes share, would be left mid-answer."""
        while True:
            waiter = self._waiter = self._loop.create_future()
            try:
                getcurrent().parent.switch(waiter)
                return
            except asyncio.CancelledError:
                continue  # the loop cancelled `waiter` with the request: wait again
            finally:
                self._waiter = None

    def close(self) -> None:
        self._loop.remove_reader(self._fd)


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


# The two marks below are classes, not generator functions: every write enters both, and a
# `contextlib.contextmanager` costs several Python calls more per use.

class in_turn:  # a context manager, named as the function it was
    """Mark that what the current handler holds is its turn (or, with False, that it is not:
    a write nested in its turn holds a connection of its own)."""

    __slots__ = ("_before", "_handler", "_value")

    def __init__(self, value: bool = True) -> None:
        self._value = value

    def __enter__(self) -> None:
        current = getcurrent()
        if isinstance(current, _Handler):
            self._handler: _Handler | None = current
            self._before, current.in_turn = current.in_turn, self._value
        else:
            self._handler = None

    def __exit__(self, *_exc: object) -> None:
        if self._handler is not None:
            self._handler.in_turn = self._before


class holding:  # a context manager, named as the function it was
    """Mark that the current handler holds a connection, lock or transaction."""

    __slots__ = ("_handler",)

    def __enter__(self) -> None:
        current = getcurrent()
        if isinstance(current, _Handler):
            self._handler: _Handler | None = current
            current.holding += 1
        else:
            self._handler = None

    def __exit__(self, *_exc: object) -> None:
        if self._handler is not None:
            self._handler.holding -= 1
