"""Refused requests stay accountable without one audit row per attempt.

Every refusal used to be one hash-chained audit row, written under the chain's lock: a client
sending 84 bad tokens a second added 1,675 rows in 20 s and slowed everyone's requests (issue
15). Now, per (actor, client address, action) and clock minute, the first `individual`
refusals are still one row each, with their request id and object; the rest of that minute are
counted in memory and written as one summary row: the same actor, address and action, with
`after = {"count", "first", "last", "objects"}` (the number of refusals summarized, the times of
the first and last in ms, up to ten distinct object names). A flood thus costs at most
`individual + 1` rows per address, reason and minute.

Summaries are written when their minute is over: by the next refusal with the same key, by a
background flusher every few seconds, and at exit. Each process keeps its own counts, so with
several workers or replicas each writes its own rows; a process killed outright loses at most
its last minute's counts (the individual rows before them are committed).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from modelyard.domain.actor import Actor
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import Unavailable

log = logging.getLogger("modelyard.denied_log")

#: (actor, action, object_type, object_name): writes one refusal's row now.
Write = Callable[[Actor, str, str, str, dict[str, object] | None], None]
_MAX_OBJECTS = 10


@dataclass
class _Minute:
    start: int
    actor: Actor
    object_type: str
    seen: int = 0  # refusals in this minute, those written one by one included
    summarized: int = 0
    first: int = 0
    last: int = 0
    objects: list[str] = field(default_factory=list)


class DeniedLog:
    def __init__(self, write: Write, individual: int = 10, window_ms: int = 60_000) -> None:
        self._write = write
        self.individual = individual
        self.window_ms = window_ms
        #: A minute's summary is written at most this long after the minute ends.
        self.flush_seconds = min(5.0, window_ms / 2000)
        self._lock = threading.Lock()
        self._minutes: dict[tuple[str, str, str], _Minute] = {}
        self._flusher: threading.Thread | None = None
        self._wake = threading.Event()

    def record(self, actor: Actor, action: str, object_type: str, object_name: str) -> None:
        """One refused request: written now, or counted into its minute's summary."""
        now = now_ms()
        start = now - now % self.window_ms
        key = (actor.name, actor.client_address, action)
        closed = None
        with self._lock:
            minute = self._minutes.get(key)
            if minute is not None and minute.start != start:
                closed = self._minutes.pop(key)
                minute = None
            if minute is None:
                minute = self._minutes[key] = _Minute(start, actor, object_type)
            minute.seen += 1
            individually = minute.seen <= self.individual
            if not individually:
                minute.summarized += 1
                minute.first = minute.first or now
                minute.last = now
                if object_name not in minute.objects and len(minute.objects) < _MAX_OBJECTS:
                    minute.objects.append(object_name)
                self._start_flusher()
        if closed is not None:
            self._summarize(key, closed)
        if individually:
            self._write(actor, action, object_type, object_name, None)

    def flush(self, everything: bool = False) -> None:
        """Write the summaries of the minutes that are over (all of them: `everything`)."""
        now = now_ms()
        with self._lock:
            done = [(key, minute) for key, minute in self._minutes.items()
                    if everything or minute.start + self.window_ms <= now]
            for key, _ in done:
                del self._minutes[key]
        for key, minute in done:
            self._summarize(key, minute)

    def _summarize(self, key: tuple[str, str, str], minute: _Minute) -> None:
        if not minute.summarized:
            return
        actor = Actor(minute.actor.name, client_address=minute.actor.client_address)
        try:
            self._write(actor, key[2], minute.object_type,
                        minute.objects[0] if minute.objects else "",
                        {"count": minute.summarized, "first": minute.first,
                         "last": minute.last, "objects": minute.objects})
        except Unavailable as error:  # the counts are lost, never the server
            log.warning("could not write the summary of %d refused requests: %s",
                        minute.summarized, error.message)
        except Exception:
            log.exception("could not write the summary of %d refused requests",
                          minute.summarized)

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._run, name="denied-log", daemon=True)
            self._flusher.start()
            atexit.register(self.flush, True)

    def _run(self) -> None:
        while not self._wake.wait(self.flush_seconds):
            self.flush()
