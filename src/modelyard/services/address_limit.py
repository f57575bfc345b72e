"""A limit on refused requests per client address: past it, 429 with Retry-After.

Each address has a bucket of `per_minute` refusals that refills at `per_minute` a minute. A
refused authentication (a bad or missing token, a wrong password, a locked user name) takes one
from its address's bucket; while the bucket is empty, requests from that address whose
credential is not a valid token are refused with 429 at once: no password is checked (argon2
costs tens of milliseconds of CPU), no sign-in failure counted, no audit row written per attempt.
A valid token still works, so a user behind the same address (a NAT, a proxy) keeps working.

The buckets live in each process's memory: with several workers or replicas, each applies
the limit on its own (the per-user-name sign-in throttle, services/signin_throttle.py, lives in
the database). Nothing is written for them: counting refusals in the database would be the very
cost being limited.
"""

from __future__ import annotations

import math
import threading
import time

#: Buckets that have refilled are dropped once there are this many, so memory stays bounded.
_PRUNE_AT = 10_000


class AddressLimit:
    def __init__(self, per_minute: int) -> None:
        #: 0: no limit.
        self.per_minute = per_minute
        self._rate = per_minute / 60.0  # refusals regained per second
        self._lock = threading.Lock()
        #: address -> (refusals left, when that was counted: time.monotonic())
        self._buckets: dict[str, tuple[float, float]] = {}

    def _level(self, address: str, now: float) -> float:
        left, at = self._buckets.get(address, (float(self.per_minute), now))
        return min(float(self.per_minute), left + (now - at) * self._rate)

    def take(self, address: str) -> int | None:
        """Reserve one refusal for a request from `address` whose credential is about to be
        checked: None when reserved (give it back with `release` if the credential is good),
        else the whole seconds until one is available. Reserving before the check keeps
        concurrent requests from all passing a check that none of them has counted yet."""
        if not self.per_minute:
            return None
        now = time.monotonic()
        with self._lock:
            level = self._level(address, now)
            if level < 1.0:
                return max(1, math.ceil((1.0 - level) / self._rate))
            self._buckets[address] = (level - 1.0, now)
            if len(self._buckets) > _PRUNE_AT:
                self._prune(now)
        return None

    def release(self, address: str) -> None:
        """The reserved request was not refused after all."""
        if not self.per_minute:
            return
        now = time.monotonic()
        with self._lock:
            self._buckets[address] = (min(float(self.per_minute),
                                          self._level(address, now) + 1.0), now)

    def _prune(self, now: float) -> None:
        full = [address for address in self._buckets
                if self._level(address, now) >= self.per_minute]
        for address in full:
            del self._buckets[address]
