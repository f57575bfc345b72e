"""The live event stream's source: one follower per process over the model history table.

Every change worth streaming (an alias move, a stage, tag or description change, a new or
deleted version) is a `model_history` row written in the change's transaction
(services/history.py); its id is the stream's event id. One `EventHub` per process follows
the table by id: woken at once by a commit in this process (an after-commit hook) and polling
every `poll_interval` for the commits of other processes or replicas on the same database.
The ids grow in commit order (the audit chain's head lock serializes writers), so following
`id > last` misses nothing.

The hub keeps the latest `RECENT` entries in memory. A subscriber that has caught up and whose
connection can take direct writes attaches a `Sink`: the hub itself writes what is new to it,
matching each distinct filter once and encoding each distinct answer once, so an alias move
reaching 10,000 idle subscribers is 10,000 socket writes of one shared buffer, with no task
woken (bench/streams.py: waking 10,000 tasks, each sending through the middleware stack, took
most of the 1.6-1.9 s median fan-out). What the hub cannot decide or write at once (a model
whose visibility this subscriber has not asked yet, a client that stopped reading) it hands
back to the subscriber's task, which sends through the ordinary path and attaches again. Other
subscribers each wait on a future of their own and read what is new from the buffer; an idle
subscriber costs one waiting coroutine and no database work. A subscriber reconnecting with
`Last-Event-ID` older than the buffer reads the gap from the table (kept as long as the
history is: the retention period is the model's lifetime).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelyard.domain.actor import Actor
from modelyard.domain.changes import Event
from modelyard.domain.history import Entry
from modelyard.store.database import Database
from modelyard.store.history import HistoryRepository

log = logging.getLogger("modelyard.events.stream")

#: Entries kept in memory for subscribers that fall behind (or reconnect) briefly.
RECENT = 4096
#: Entries read from the table in one query.
BATCH = 500


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """What one subscriber asked for: None matches everything."""

    model: str | None = None
    alias: str | None = None
    #: An action ("registered_model.set_alias") or a kind ("alias", "stage", "tag", ...).
    types: frozenset[str] | None = None

    def matches(self, entry: Entry) -> bool:
        if self.model is not None and entry.model_name != self.model:
            return False
        if self.alias is not None and (entry.kind != "alias" or entry.subject != self.alias):
            return False
        return self.types is None or entry.action in self.types or entry.kind in self.types


@dataclass
class Visibility:
    """Which models one subscriber may read, asked once per model (per subscriber)."""

    actor: Actor
    may_read: Callable[[Actor, str, str], bool]
    known: dict[tuple[str, str], bool] = field(default_factory=dict)

    async def allows(self, entry: Entry) -> bool:
        if self.actor.is_admin:
            return True
        key = (entry.registry, entry.model_name)
        allowed = self.known.get(key)
        if allowed is None:
            allowed = await asyncio.to_thread(self.may_read, self.actor, *key)
            self.known[key] = allowed
        return allowed


@dataclass(eq=False, slots=True)
class Sink:
    """A caught-up subscriber the hub writes to directly (see the module's docstring)."""

    wanted: StreamFilter
    visibility: Visibility
    #: Entries as the subscriber's wire wants them (one shared function per kind of
    #: connection: its results are shared by every sink with the same filter).
    render: Callable[[list[Entry]], bytes]
    #: Writes bytes at once, or answers False (then the task takes over).
    write: Callable[[bytes], bool]
    keepalive: bytes
    #: The id of the last entry this subscriber has been given (or skipped).
    cursor: int
    #: Completed when the hub hands the subscriber back to its task.
    handback: asyncio.Future[None]
    #: Set when a write was refused: the task sends through the path that waits for the
    #: client.
    stalled: bool = False


class EventHub:
    """One per process: follows the history table and wakes the subscribers."""

    def __init__(self, database: Database, poll_interval: float = 0.5,
                 keepalive: float = 15.0) -> None:
        self.database = database
        self.poll_interval = poll_interval
        #: Seconds between two keep-alive ticks: every waiting subscriber wakes and, with
        #: nothing new to send, sends a keep-alive comment.
        self.keepalive = keepalive
        self.loop: asyncio.AbstractEventLoop | None = None
        self.last_id = 0
        self.ids: list[int] = []
        self.entries: list[Entry] = []
        #: One future per waiting subscriber, completed when news arrives.
        self.waiters: set[asyncio.Future[None]] = set()
        #: Subscribers the hub writes to itself.
        self.sinks: set[Sink] = set()
        self.wake_event: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.started: asyncio.Task[None] | None = None
        self.subscribers = 0
        #: The server is stopping: every stream ends, none waits (close).
        self.closed = False
        self._stoppers: set[asyncio.Future[Any]] = set()

    # ---- the follower --------------------------------------------------------------------

    async def start(self) -> None:
        """Start following (once per process, on the first subscriber's loop)."""
        if self.started is None:  # the first subscriber starts it; the others wait for that
            self.started = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self.started)

    async def _start(self) -> None:
        self.last_id = await asyncio.to_thread(self._last_id)
        self.loop = asyncio.get_running_loop()
        self.wake_event = asyncio.Event()
        self.task = self.loop.create_task(self._follow())

    async def head(self) -> int:
        """The newest event committed now, whether or not the follower has read it yet: where a
        new subscriber without a Last-Event-ID starts (nothing from before it subscribed)."""
        return await asyncio.to_thread(self._last_id)

    def _last_id(self) -> int:
        with self.database.read() as conn:
            return HistoryRepository(conn).last_id()

    def _read(self, after_id: int) -> list[Entry]:
        with self.database.read() as conn:
            return HistoryRepository(conn).since(after_id, BATCH)

    async def _follow(self) -> None:
        assert self.wake_event is not None
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self.keepalive
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake_event.wait(),
                                   min(self.poll_interval, self.keepalive))
            self.wake_event.clear()
            try:
                while True:
                    found = await asyncio.to_thread(self._read, self.last_id)
                    if found:
                        self._publish(found)
                    if len(found) < BATCH:
                        break
            except Exception:  # the database is away: try again at the next tick
                log.exception("reading the event stream's source failed")
            if loop.time() >= next_tick:
                next_tick = loop.time() + self.keepalive
                self._keep_alive()
                self._release_all()

    def _publish(self, found: list[Entry]) -> None:
        self.entries.extend(found)
        self.ids.extend(e.id for e in found)
        if len(self.entries) > 2 * RECENT:
            del self.entries[:-RECENT]
            del self.ids[:-RECENT]
        self.last_id = found[-1].id
        self._fan_out(found)
        self._release_all()

    def _fan_out(self, found: list[Entry]) -> None:
        """Write `found` to every sink: each distinct filter matched once, each distinct
        answer encoded once; what a sink cannot take now goes back to its task."""
        first, last = found[0].id, found[-1].id
        groups: dict[tuple[StreamFilter, Callable[[list[Entry]], bytes]],
                     tuple[list[Entry], bytes]] = {}
        for sink in list(self.sinks):
            if sink.cursor < first - 1:  # attached sinks have seen all before `found`
                self._hand_back(sink)
                continue
            key = (sink.wanted, sink.render)
            group = groups.get(key)
            if group is None:
                matched = [e for e in found if sink.wanted.matches(e)]
                group = groups[key] = (matched, sink.render(matched) if matched else b"")
            matched, data = group
            if sink.cursor >= first:  # a Last-Event-ID from the future: only what is newer
                matched = [e for e in matched if e.id > sink.cursor]
                data = sink.render(matched) if matched else b""
            if matched and not sink.visibility.actor.is_admin:
                known = sink.visibility.known
                verdicts = [known.get((e.registry, e.model_name)) for e in matched]
                if None in verdicts:  # not asked yet: the task asks (a database read)
                    self._hand_back(sink)
                    continue
                if not all(verdicts):
                    shown = [e for e, ok in zip(matched, verdicts, strict=True) if ok]
                    data = sink.render(shown) if shown else b""
            if data and not sink.write(data):
                sink.stalled = True
                self._hand_back(sink)
                continue
            sink.cursor = last

    def _keep_alive(self) -> None:
        for sink in list(self.sinks):
            if not sink.write(sink.keepalive):
                sink.stalled = True
                self._hand_back(sink)

    def close(self) -> None:
        """The server is stopping: release every waiting stream and every sink (each ends its
        response), take no more, and stop following. Idempotent."""
        self.closed = True
        for sink in list(self.sinks):
            self._hand_back(sink)
        self._release_all()
        if self.task is not None:
            self.task.cancel()

    def close_when(self, stopping: asyncio.Future[Any] | None) -> None:
        """Close when `stopping` is done (the server's stop signal, once per server)."""
        if stopping is None or stopping in self._stoppers:
            return
        self._stoppers.add(stopping)
        stopping.add_done_callback(lambda _: self.close())

    def attach(self, sink: Sink) -> bool:
        """Let the hub write to `sink` from now on; False when it has not caught up (the
        task reads what is new first) or the hub is closed."""
        if self.closed or sink.cursor < self.last_id:
            return False
        self.sinks.add(sink)
        return True

    def detach(self, sink: Sink) -> None:
        self.sinks.discard(sink)

    def _hand_back(self, sink: Sink) -> None:
        self.sinks.discard(sink)
        _release(sink.handback)

    def _release_all(self) -> None:
        waiters, self.waiters = self.waiters, set()
        for waiter in waiters:
            _release(waiter)

    def wake(self, actor: Actor, events: list[Event]) -> None:
        """The after-commit hook: a change committed here; read it now, not at the next poll
        (called from any thread)."""
        loop, wake_event = self.loop, self.wake_event
        if loop is not None and wake_event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake_event.set)

    # ---- what subscribers read -----------------------------------------------------------

    async def after(self, cursor: int) -> list[Entry]:
        """The entries after `cursor` that the hub has seen (from memory, or from the table
        when `cursor` is older than the buffer)."""
        if cursor >= self.last_id:
            return []
        if self.ids and cursor >= self.ids[0] - 1:
            return self.entries[bisect.bisect_right(self.ids, cursor):]
        found = await asyncio.to_thread(self._read, cursor)
        return [e for e in found if e.id <= self.last_id]

    async def wait(self, gone: asyncio.Future[Any]) -> bool:
        """Until something new arrives, the keep-alive tick, or `gone` is done (the client
        left) or the hub closed (the server is stopping); True when `gone` is done or the
        hub closed.

        Each waiter is its own future in a set the hub completes on news and on its keep-alive
        tick: O(1) to add and to drop, and no timer per subscriber. (`asyncio.wait` on one
        shared future with a timeout cost each waiter a scan of the shared future's callback
        list when it timed out: with 10,000 idle streams, 10,000 scans of 10,000 callbacks.)"""
        if gone.done() or self.closed:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.add(waiter)

        def left(_: object) -> None:
            _release(waiter)

        gone.add_done_callback(left)
        try:
            await waiter
        finally:
            gone.remove_done_callback(left)
            self.waiters.discard(waiter)
        return gone.done() or self.closed


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
