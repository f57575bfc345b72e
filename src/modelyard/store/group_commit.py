"""The writes of the requests the event loop serves together share one COMMIT.

On SQLite most of a small write's cost is its COMMIT: each page the transaction changed is one
WAL frame, two `pwrite` calls (about 17 frames for a new version: the version's table and
indexes, the model's row, the audit and history rows), plus the file locks of BEGIN and COMMIT
(bench/RESULTS.md, issue 21). Requests that arrive together write the same last pages of the
audit, history and version tables, and page 1.

So a request handler (a handler greenlet, store/cooperative.py) that has finished its write does
not commit it: it leaves the transaction open, under the write lock, and waits; the event loop
first runs the other requests that are ready, whose writes join the open transaction, each in a
savepoint of its own (a write that fails rolls back alone, as before), and then one COMMIT ends
them all. Every handler resumes only after that COMMIT: its answer, its after-commit hooks
(webhooks, the event stream) and any read it makes next come after its write is durable, as
before; a COMMIT that fails fails every write in it. Nobody outside the group sees a write before
its COMMIT (other requests read on connections of their own), so what a write guarantees is
unchanged: one transaction holds the change, its audit row and its outbox rows.

Writes not made by a handler on the loop (threads, the CLI, in-process callers) commit at once,
as before; one made on the loop outside a handler first commits the open group.

PostgreSQL likewise (store/database.py, store/libpq_statements.py): there a write's cost is
its round trips, two per write (the first answers what the write needs, the second carries
the rest with the COMMIT); in a group a member's rest goes with the next member's first round
trip, and one COMMIT ends them all (about 10% of a write's server CPU, bench/RESULTS.md issue
21). Each member, the first included, writes in a savepoint: one whose statements fail after
its write is done (sent with the next member's) is rolled back alone and gets its error after
the COMMIT. The group holds the row locks of every member's model until its COMMIT, which the
loop runs as soon as the requests that were ready have run.

On PostgreSQL group writes also take turns (`GroupCommit.turn`): one handler at a time writes
in the group (or opens it), and while it waits for PostgreSQL's answer it is suspended, so the
loop serves the other requests meanwhile instead of sitting idle for each round trip; a write
that arrives waits for the turn, then joins the group, and the COMMIT waits for the turn to
end. The loop's PostgreSQL round trips then overlap its other work: fewer, larger groups and
about 12% less server CPU per populate request, none gained or lost on alias moves
(bench/RESULTS.md, issue 21's sixth session). What a suspended writer holds
(the group's connection and row locks) only a write on the loop made outside a handler could
wait for, and that write could not let the loop resume the writer: the request surfaces run
their handlers in greenlets, and such a write's lock waits are bounded
(`Database._pg_alone`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, RootTransaction

from modelyard.domain.errors import Unavailable
from modelyard.store import cooperative
from modelyard.store.sqlite_write_lock import SqliteWriteLock

log = logging.getLogger(__name__)


def commit_or_roll_back(transaction: RootTransaction) -> None:
    """COMMIT; roll back what a failed COMMIT left (as `with conn.begin()` does), and raise the
    COMMIT's error (a failed rollback is logged, not raised in its place)."""
    try:
        transaction.commit()
    except BaseException:
        try:
            if transaction.is_active:
                transaction.rollback()
        except Exception:
            log.exception("the rollback after a failed COMMIT failed")
        raise


class CommitGroup:
    """A write transaction left open for the requests the loop serves next."""

    def __init__(self, conn: Connection, transaction: RootTransaction,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.conn, self.transaction = conn, transaction
        self.committed: asyncio.Future[None] = loop.create_future()
        self.thread = threading.get_ident()


class GroupCommit:
    """The open group of one database's writer connection, if any; its members wait for it."""

    def __init__(self, lock: SqliteWriteLock | None = None) -> None:
        #: SQLite: the write lock a group holds until its COMMIT.
        self._lock = lock
        self._open: CommitGroup | None = None
        #: PostgreSQL: whether a handler is writing in a group now (its turn); who waits for it.
        self._turn_taken = False
        self._turn_thread = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._commit_due: CommitGroup | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """PostgreSQL: one handler at a time writes in a group (opens it or joins it) and may
        be suspended while it waits for the database, the others waiting for their turn; the
        group's COMMIT waits for the turn to end."""
        if self._turn_taken:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                cooperative.wait_for(waiter)
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._end_turn()  # handed to this one as it was cancelled: pass it on
                raise
        else:
            self._turn_taken = True
            self._turn_thread = threading.get_ident()
        try:
            with cooperative.in_turn():
                yield
        finally:
            self._end_turn()

    def turn_taken_here(self) -> bool:
        """Whether a handler of this thread's loop is writing in a group now (its turn)."""
        return self._turn_taken and self._turn_thread == threading.get_ident()

    def _end_turn(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the turn is that handler's now
                return
        self._turn_taken = False
        due, self._commit_due = self._commit_due, None
        if due is not None:
            asyncio.get_running_loop().call_soon(self.commit, due)

    @staticmethod
    def can_wait() -> bool:
        """Whether the write being made may wait for a group's COMMIT (a handler on the loop)."""
        return cooperative.in_handler()

    def joinable(self) -> CommitGroup | None:
        """The open group, if this thread (the loop's) may write in it."""
        group = self._open
        return group if group is not None and group.thread == threading.get_ident() else None

    def hand_over(self, conn: Connection, transaction: RootTransaction) -> None:
        """Leave `transaction` (on `conn`), written under the write lock, open for the writes
        of the requests the loop runs next, and wait until one COMMIT has ended it and theirs.
        The lock is released then; the COMMIT's error, if any, is raised here."""
        loop = asyncio.get_running_loop()
        group = self._open = CommitGroup(conn, transaction, loop)
        loop.call_soon(self.commit, group)
        cooperative.wait_for(group.committed)

    @staticmethod
    def wait(group: CommitGroup) -> None:
        """Wait, having written in `group`, until its COMMIT is done (or raise its error)."""
        cooperative.wait_for(group.committed)

    def undone(self, group: CommitGroup, cause: BaseException) -> None:
        """SQLite rolled the group's whole transaction back after a member's error (a full
        disk, an I/O error): no member's write was kept, so each fails (an outage, to retry),
        and the next write starts a transaction of its own."""
        if self._open is not group:
            return
        self._open = None
        try:
            group.transaction.rollback()  # SQLAlchemy's side of it (SQLite's is done)
            group.committed.set_exception(Unavailable(
                "The change was not saved: the database undid the transaction it shared with "
                f"another request ({cause}). Retry it."))
        finally:
            self._release()

    def commit(self, group: CommitGroup) -> None:
        """COMMIT the group (on the loop, after the requests that were ready), release the
        write lock and wake its members. Nothing when the group has been committed already."""
        if self._open is not group:
            return
        if self._turn_taken:
            self._commit_due = group  # after the write in progress in it
            return
        self._open = None
        try:
            commit_or_roll_back(group.transaction)
        except Exception as error:
            group.committed.set_exception(error)
        else:
            group.committed.set_result(None)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
