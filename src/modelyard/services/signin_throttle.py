"""Sign-in throttling: repeated wrong passwords for one user name lock password sign-in for it.

After `max_failures` failed password attempts for one user name, counted from the first of
them and within `window_seconds`, password sign-in for that name is refused for a fixed
`lock_seconds` (429 with Retry-After on the APIs, a message on the web UI's sign-in page). While
locked the password is not even checked, so a correct one is refused too. When the lock ends,
counting starts afresh; a successful sign-in clears the count. Tokens are not affected: a locked
user (or an admin) can still use one. Unknown user names are counted like known ones, so the
answer does not tell which names exist.

The counts live in the database (table `signin_failures`), so every worker process and replica
applies one throttle. One gap: a password that signed in successfully in the last
AUTH_CACHE_SECONDS (services/identity.py) is still accepted from the in-process cache by
*other* processes during that many seconds; the process that sees a failure forgets the name's
cached passwords at once, so there its next attempt meets the lock (and a success the reset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection

from modelyard.domain.clock import now_ms
from modelyard.domain.errors import TooManyAttempts
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import UnitOfWorkFactory
from modelyard.store.signin_failures import SigninFailures

SYSTEM = Actor("system", is_admin=True)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    #: Failed attempts that lock password sign-in for a user name; 0 turns the throttle off.
    max_failures: int = 5
    #: Failures count together when they fall within this many seconds of the first.
    window_seconds: float = 900.0
    #: How long the lock lasts (fixed, not growing).
    lock_seconds: float = 300.0

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0


class SigninThrottle:
    def __init__(self, units: UnitOfWorkFactory, policy: ThrottlePolicy) -> None:
        self.units = units
        self.policy = policy

    def refuse_if_locked(self, conn: Connection, username: str) -> bool:
        """Raise TooManyAttempts while `username` is locked; otherwise return whether failures
        are on record for it (a success then clears them)."""
        if not self.policy.enabled:
            return False
        locked_until = SigninFailures(conn).locked_until(username)
        if locked_until is None:
            return False
        remaining_ms = locked_until - now_ms()
        if remaining_ms > 0:
            seconds = max(1, math.ceil(remaining_ms / 1000))
            raise TooManyAttempts(
                f"Too many failed sign-in attempts for user '{username}': password sign-in is "
                f"locked for {seconds} more seconds. Try again later, or use a token.", seconds)
        return True

    def failed(self, username: str) -> bool:
        """Count a failed attempt; True when it locked the user name."""
        if not self.policy.enabled:
            return False
        now = now_ms()
        with self.units.write(SYSTEM) as uow:
            locked_until = SigninFailures(uow.conn).record_failure(
                username, now, round(self.policy.window_seconds * 1000),
                self.policy.max_failures, round(self.policy.lock_seconds * 1000))
        return locked_until > now

    def succeeded(self, username: str) -> None:
        with self.units.write(SYSTEM) as uow:
            SigninFailures(uow.conn).clear(username)
