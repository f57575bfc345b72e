"""Failed password sign-ins per user name (services/signin_throttle.py decides what they mean).

Counting is one INSERT … ON CONFLICT DO UPDATE, so concurrent failures on several workers or
replicas all count and the lock is set by whichever reaches the threshold.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, case, delete, or_, select

from modelyard.store.database import upsert_insert
from modelyard.store.tables import signin_failures

t = signin_failures
MAX_NAME = 256


def _key(username: str) -> str:
    # No principal's name is longer (store/tables.principals); the column is this wide.
    return username[:MAX_NAME]


class SigninFailures:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def locked_until(self, username: str) -> int | None:
        """When the lock on `username` ends (epoch ms, 0: not locked); None: no failures."""
        return self.conn.execute(select(t.c.locked_until)
                                 .where(t.c.username == _key(username))).scalar()

    def record_failure(self, username: str, now: int, window_ms: int, threshold: int,
                       lock_ms: int) -> int:
        """Count one failure; returns when the lock ends (epoch ms, 0: not locked).

        A failure starts a new count when the previous one began `window_ms` ago or more, or
        when a lock has passed; reaching `threshold` failures locks for `lock_ms`."""
        fresh = or_(t.c.first_failure_at <= now - window_ms,
                    and_(t.c.locked_until > 0, t.c.locked_until <= now))
        failures = case((fresh, 1), else_=t.c.failures + 1)
        dialect_insert = upsert_insert(self.conn.dialect.name)
        statement = dialect_insert(t).values(
            username=_key(username), failures=1, first_failure_at=now,
            locked_until=now + lock_ms if threshold <= 1 else 0)
        self.conn.execute(statement.on_conflict_do_update(index_elements=["username"], set_={
            "failures": failures,
            "first_failure_at": case((fresh, now), else_=t.c.first_failure_at),
            "locked_until": case((failures >= threshold, now + lock_ms),
                                 (fresh, 0), else_=t.c.locked_until),
        }))
        # Rows whose window and lock have both passed count for nothing: keep the table small.
        self.conn.execute(delete(t).where(t.c.first_failure_at <= now - window_ms,
                                          t.c.locked_until <= now, t.c.username != _key(username)))
        return int(self.conn.execute(select(t.c.locked_until)
                                     .where(t.c.username == _key(username))).scalar_one())

    def clear(self, username: str) -> None:
        self.conn.execute(delete(t).where(t.c.username == _key(username)))
