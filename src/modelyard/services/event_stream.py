"""The live event stream's source: one follower per process over the model history table.

Every change worth streaming (an alias move, a stage, tag or description change, a new or
deleted version) is a `model_history` row written in the change's transaction
(services/history.py); its id is the stream's event id. One `EventHub` per process follows
the table by id: woken at once by a commit in this process (an after-commit hook) and polling
every `poll_interval` for the commits of other processes or replicas on the same database.
The ids grow in commit order (the audit chain's head lock serializes writers), so following
`id > last` misses nothing.

The hub keeps the latest `RECENT` entries in memory; every subscriber waits on one shared
future and reads what is new from that buffer, so an idle subscriber costs one waiting
coroutine and no database work. A subscriber reconnecting with `Last-Event-ID` older than the
buffer reads the gap from the table (kept as long as the history is: the retention period is
the model's lifetime).
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
        self.wake_event: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.started: asyncio.Task[None] | None = None
        self.subscribers = 0

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
                self._release_all()

    def _publish(self, found: list[Entry]) -> None:
        self.entries.extend(found)
        self.ids.extend(e.id for e in found)
        if len(self.entries) > 2 * RECENT:
            del self.entries[:-RECENT]
            del self.ids[:-RECENT]
        self.last_id = found[-1].id
        self._release_all()

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
        left); True when `gone` is done.

        Each waiter is its own future in a set the hub completes on news and on its keep-alive
        tick: O(1) to add and to drop, and no timer per subscriber. (`asyncio.wait` on one
        shared future with a timeout cost each waiter a scan of the shared future's callback
        list when it timed out: with 10,000 idle streams, 10,000 scans of 10,000 callbacks.)"""
        if gone.done():
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
        return gone.done()


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
