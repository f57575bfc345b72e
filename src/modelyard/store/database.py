"""The engine and its transactions (the services' unit of work runs in one of these:
services/unit_of_work.py).

`Database.write()` opens one transaction that takes the write lock up front (SQLite:
`BEGIN IMMEDIATE`; PostgreSQL: row locks taken by the statements), so that concurrent writers
from several processes serialize instead of failing half-way. `Database.read()` is for reads: on
SQLite one snapshot for all its statements; on PostgreSQL each statement sees what was committed
when it started (what READ COMMITTED, PostgreSQL's default, gives inside a transaction too).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from greenlet import getcurrent
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    RootTransaction,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool

from modelyard.store import model_summary
from modelyard.store.cooperative import holding, in_turn, poll_readable
from modelyard.store.failures import translated
from modelyard.store.group_commit import CommitGroup, GroupCommit, commit_or_roll_back
from modelyard.store.sqlite_write_lock import SqliteWriteLock

if TYPE_CHECKING:  # imported when used: SQLite servers never import psycopg
    from modelyard.store.libpq_statements import Member

_WRITE = "modelyard_write"

log = logging.getLogger(__name__)


def upsert_insert(dialect: str) -> Any:
    """The dialect's `insert` construct, the one with `on_conflict_do_update`. Imported here,
    when first needed: the PostgreSQL dialect package costs a server on SQLite 50 ms of start."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def json_names(dialect: str, parameter: str) -> Any:
    """A sub-query of the strings in the JSON array bound to `parameter`, for `IN`: a set of
    names (a caller's principals, say) as one parameter, so that a statement compiled once
    takes sets of any size."""
    if dialect == "postgresql":
        return select(func.json_array_elements_text(
            cast(bindparam(parameter), JSON)).column_valued())
    return select(func.json_each(bindparam(parameter)).table_valued("value").c.value)


def names_param(names: frozenset[str]) -> str:
    """The value of a `json_names` parameter."""
    return orjson.dumps(sorted(names)).decode()


def sqlite_url_for(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'modelyard.db').resolve()}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            # LIKE is case-sensitive in every dialect Modelyard speaks; ILIKE is not.
            "case_sensitive_like=ON",
            # 8 MB of page cache per connection (the OS caches the file too). 32 MB each let
            # RSS grow to 180 MiB at 1M versions with the pool's connections (budget: 150);
            # search CPU did not change.
            "cache_size=-8000",
            "temp_store=MEMORY",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        # Straight on the driver's connection: every request begins a transaction, and
        # exec_driver_sql's statement machinery cost more than the BEGIN itself.
        connection.connection.driver_connection.execute(  # type: ignore[union-attr]
            "BEGIN IMMEDIATE" if write else "BEGIN")


#: store/libpq_statements.py, imported by `_configure_postgresql` (SQLite servers never import
#: it: it imports psycopg). The write path's helpers below use it from here: an import in a
#: function costs a call into importlib each time it runs (~1 µs), several per write.
_libpq: Any = None


def _configure_postgresql(engine: Engine) -> None:
    global _libpq
    from psycopg.types.json import set_json_loads  # here: SQLite servers never import psycopg

    from modelyard.store import libpq_statements

    _libpq = libpq_statements

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The hot statements are prepared by store/libpq_statements.py. psycopg's own automatic
        # preparing is off: its rollback() sends DEALLOCATE ALL, which would drop those too.
        dbapi_connection.prepare_threshold = None
        # JSON the queries aggregate (tags, aliases, latest versions) is decoded by orjson:
        # psycopg's default, the standard library's json, cost ~0.3 ms per 100-model search.
        set_json_loads(orjson.loads, dbapi_connection)
        # The registry's tables are small enough to stay in memory, where a random read costs
        # little more than a sequential one. With the default of 4, PostgreSQL answered
        # `tags.team = 'x'` over 100k models by hashing the whole models table (30 ms) instead
        # of fetching the 1,000 matching models by id (4 ms). Session-level only.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET random_page_cost = 1.1")
        dbapi_connection.autocommit = autocommit

    # Statements that wait on a connection (compiled.execute_later, store/libpq_statements.py)
    # go before any other statement, with the COMMIT, or not at all if the transaction is rolled
    # back; and never outlive the checkout they were made in.
    @event.listens_for(engine, "before_cursor_execute")
    def _before_statement(conn: Connection, *_args: Any) -> None:
        libpq_statements.send_waiting(conn.connection.info)

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Connection) -> None:
        libpq_statements.commit_waiting(conn.connection.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Connection) -> None:
        libpq_statements.forget_waiting(conn.connection.info)

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        libpq_statements.forget_waiting(record.info)
        # An idle session has nothing to say: if its socket is readable, the server ended it (a
        # restart, pg_terminate_backend) and sent why. Raising here makes the pool replace the
        # connection instead of the request failing with a 500 on its first statement. One
        # poll() without waiting, where pool_pre_ping would cost a round trip per request.
        if _session_ended(dbapi_connection):
            raise DisconnectionError("PostgreSQL ended this pooled session")


def _session_ended(driver: Any) -> bool:
    """Whether PostgreSQL ended this idle psycopg session: closed, or its socket readable."""
    return bool(driver.closed) or poll_readable(driver.fileno(), 0)


def describe_failure(url: str, error: BaseException) -> str:
    """One line for a person: which database (never its password) and what failed, from an
    error raised while opening or migrating it."""
    try:
        parsed = make_url(url)
    except Exception:
        return f"cannot use --database-url: it is not a SQLAlchemy URL ({error})"
    if parsed.get_backend_name() == "sqlite":
        where = f"the SQLite database {parsed.database or ':memory:'}"
    else:
        host = parsed.host or "localhost"
        where = (f"the {parsed.get_backend_name()} database '{parsed.database or ''}' at "
                 f"{host}:{parsed.port or 5432}")
    reason = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(reason).splitlines()
             if line.strip() and not line.strip().startswith("(Background on this error")]
    return f"cannot use {where}: {'; '.join(lines) or type(reason).__name__}"


class _Process:
    """This process's id, kept current across forks: `os.getpid()` is a system call, and
    every SQLite write asks (`Database._sqlite_writer`)."""

    pid = os.getpid()

    @classmethod
    def forked(cls) -> None:
        cls.pid = os.getpid()


os.register_at_fork(after_in_child=_Process.forked)


def _runs_on_libpq(conn: Connection) -> bool:
    """Whether the connection's compiled statements run on libpq (a UTF-8 session)."""
    return bool(_libpq.session_of(conn.connection).usable)


def _lock_group(conn: Connection) -> None:
    """The group's transaction takes the groups' lock first (store/libpq_statements.py)."""
    _libpq.lock_group(conn.connection.info)


#: How long a write on the loop's thread outside a handler waits for a row lock while a
#: group's write is suspended (Database._pg_alone).
LOOP_LOCK_TIMEOUT = "2s"


def _bound_lock_waits(conn: Connection) -> None:
    log.warning("a write on the event loop outside a request handler while a group write is "
                "in progress: its lock waits are bounded to %s", LOOP_LOCK_TIMEOUT)
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOOP_LOCK_TIMEOUT}'")


def _stop_watching(info: dict[Any, Any]) -> None:
    """The group is over: its connection's socket leaves the event loop."""
    _libpq.stop_watching(info)


def _forget_noted(conn: Connection) -> None:
    """What the transaction noted of a member whose savepoint was rolled back is not so any
    more: the model summaries it read or wrote, the row locks it took."""
    model_summary.forget_all(conn)
    model_summary.forget_locks(conn)


def _raise_its_error(member: Member) -> None:
    """A group member's statement that failed after its write was done: its own error now."""
    if member.error is not None:
        raise member.error


class _KeptWriters:
    """PostgreSQL: a few write connections kept between writes instead of taken from the pool
    and given back for each (a Connection made, the checkout's and checkin's events and reset:
    ~10% of a write's CPU, bench/RESULTS.md issue 21). At most `KEEP`, whatever threads come
    and go; a write that finds none free (a nested one, another thread's at the same time)
    takes a pooled connection as before."""

    KEEP = 2

    def __init__(self, connect: Callable[[], Connection]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        #: Kept and free, with the process that opened each (LIFO: the warmest first).
        self._free: list[tuple[Connection, int]] = []
        self._kept = 0  # free or in use

    def take(self) -> Connection | None:
        conn: Connection | None = None
        with self._lock:
            if self._free:
                conn, pid = self._free.pop()
            elif self._kept < self.KEEP:
                self._kept += 1
                pid = _Process.pid
            else:
                return None
        if pid != _Process.pid:
            # A forked worker's copy of its parent's session: not this process's to use or close.
            conn = None
        elif conn is not None and (conn.closed or conn.invalidated
                                   or _session_ended(conn.connection.dbapi_connection)):
            with contextlib.suppress(Exception):  # the pool discards a broken connection
                conn.close()
            conn = None
        if conn is None:
            try:
                conn = self._connect()
            except BaseException:
                with self._lock:
                    self._kept -= 1
                raise
        return conn

    def give_back(self, conn: Connection) -> None:
        with self._lock:
            self._free.append((conn, _Process.pid))

    def drop(self, conn: Connection) -> None:
        """Stop keeping `conn` (its write failed: the pool resets or discards it)."""
        with self._lock:
            self._kept -= 1
        with contextlib.suppress(Exception):
            conn.close()

    def close_all(self) -> None:
        with self._lock:
            free, self._free = self._free, []
            self._kept -= len(free)
        for conn, pid in free:
            if pid == _Process.pid:
                with contextlib.suppress(Exception):
                    conn.close()


class Database:
    """One engine and the unit-of-work contexts every repository runs in."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._write_lock: SqliteWriteLock | nullcontext[None] = nullcontext()
        #: SQLite: the one connection this process writes on, kept between writes (see `write`),
        #: and the process that opened it.
        self._writer: Connection | None = None
        self._writer_pid = 0
        #: The threads and handler greenlets inside a write (SQLite): a write begun by one of
        #: them is nested in its own.
        self._writing: set[object] = set()
        if self.is_sqlite:
            in_memory = parsed.database in (None, "", ":memory:")
            self._write_lock = SqliteWriteLock(None if in_memory else parsed.database)
            # LIFO: the connection used last, whose page cache is warm, serves the next request.
            # FIFO rotated sequential requests over every pooled connection, each re-reading
            # pages from the OS: a tag search over 100k models cost 4.1 ms CPU instead of 2.3.
            # (mmap_size would share the cache, but its pages count in RSS: 566 MiB at 1M.)
            self.engine = create_engine(url, poolclass=QueuePool, pool_size=8, max_overflow=8,
                                        pool_use_lifo=True)
            _configure_sqlite(self.engine)
        else:
            # A database that does not answer a connection attempt (a dropped route, a host
            # down) fails it after 5 s, answered as an outage (503), instead of holding the
            # request; a URL's own connect_timeout wins.
            connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 5}
            self.engine = create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=False,
                                        connect_args=connect_args)
            _configure_postgresql(self.engine)
        #: The writes of the requests the loop serves together share a COMMIT (SQLite: under
        #: the write lock).
        self._groups = GroupCommit(self._write_lock if isinstance(self._write_lock,
                                                                  SqliteWriteLock) else None)
        #: PostgreSQL: connections kept for writes.
        self._pg_writers = _KeptWriters(self._write_connection)
        # Reads on PostgreSQL run outside a transaction (autocommit; same pool): in READ
        # COMMITTED a transaction gives a read nothing more, and its BEGIN and COMMIT were two
        # more round trips per request, ~0.15 ms of server CPU per search (bench/, issue 6).
        self._reads = (self.engine if self.is_sqlite
                       else self.engine.execution_options(isolation_level="AUTOCOMMIT"))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        # SQLite has one writer at a time: writers of every thread and process queue on
        # SqliteWriteLock, woken as soon as it is free, instead of in SQLite's busy handler.
        me = getcurrent()  # this thread, or this request's handler greenlet
        if not self.is_sqlite:
            with holding(), translated:
                yield from self._pg_write(me)
            return
        with holding(), translated:
            if me in self._writing:
                # A write nested in this handler's (or thread's) own: a connection of its own.
                with self._write_lock, self._write_connection() as nested, nested.begin():
                    yield nested
                return
            group = self._groups.joinable()
            if group is not None:
                if self._groups.can_wait():
                    with self._joined(group, me) as conn:
                        yield conn
                    self._groups.wait(group)
                    return
                self._groups.commit(group)  # a writer that cannot wait ends the group first
            self._write_lock.__enter__()
            handed_over = False
            try:
                conn = self._sqlite_writer()
                transaction = conn.begin()
                self._writing.add(me)
                try:
                    yield conn
                except BaseException:
                    transaction.rollback()
                    raise
                finally:
                    self._writing.discard(me)
                if self._groups.can_wait():
                    handed_over = True  # the group's COMMIT releases the lock
                    self._groups.hand_over(conn, transaction)
                else:
                    commit_or_roll_back(transaction)
            finally:
                if not handed_over:
                    self._write_lock.__exit__(None, None, None)

    def _pg_write(self, me: object) -> Iterator[Connection]:
        """PostgreSQL: a handler's write on the loop joins the open group (store/group_commit.py)
        or opens one on a kept connection; another writer commits on its own."""
        nested = me in self._writing
        if nested:
            with in_turn(False), self._write_connection() as conn, conn.begin():
                yield conn
            return
        if not self._groups.can_wait():
            group = self._groups.joinable()
            if group is not None:
                self._groups.commit(group)  # a writer that cannot wait ends the group first
            yield from self._pg_alone(self._pg_writers.take(),
                                      bounded=self._groups.turn_taken_here())
            return
        opened: tuple[Connection, RootTransaction, Any, Member] | None = None
        with self._groups.turn():
            group = self._groups.joinable()
            if group is None:
                kept = self._pg_writers.take()
                if kept is None or not _runs_on_libpq(kept):
                    yield from self._pg_alone(kept)
                    return
                opened = yield from self._pg_open_group(kept, me)
            else:
                with self._pg_member(group.conn, me) as member:
                    yield group.conn
        # The turn is over (the next write may join the group); now wait for its COMMIT.
        if opened is not None:
            self._pg_end_group(*opened)
        elif group is not None:
            self._groups.wait(group)
            _raise_its_error(member)

    def _pg_open_group(self, kept: Connection, me: object
                       ) -> Generator[Connection, None,
                                      tuple[Connection, RootTransaction, Any, Member]]:
        """The first write of a group, on a kept connection: that connection, its transaction,
        its info and the write's member."""
        info = kept.connection.info  # read now: a failed COMMIT may invalidate `kept`
        try:
            transaction = kept.begin()
            try:
                _lock_group(kept)
                with self._pg_member(kept, me) as member:
                    yield kept
            except BaseException:
                transaction.rollback()
                raise
        except BaseException:
            _stop_watching(info)
            self._pg_writers.drop(kept)  # whatever state it is in, the pool resets it
            raise
        return kept, transaction, info, member

    def _pg_end_group(self, kept: Connection, transaction: RootTransaction, info: Any,
                      member: Member) -> None:
        """Leave the group open for the writes served next, until its COMMIT; then the kept
        connection is free again."""
        try:
            self._groups.hand_over(kept, transaction)
        except BaseException:
            _stop_watching(info)
            self._pg_writers.drop(kept)
            raise
        _stop_watching(info)
        self._pg_writers.give_back(kept)
        _raise_its_error(member)

    def _pg_alone(self, kept: Connection | None, bounded: bool = False
                  ) -> Iterator[Connection]:
        """A PostgreSQL write in a transaction of its own on `kept` (a kept writer taken by
        the caller; None: a pooled connection), committed at once.

        `bounded`: made on the event loop's thread outside a handler while a handler's group
        write is suspended mid-way (store/group_commit.py). The loop cannot run that handler
        until this write is done, so a row lock it holds would never be released: this write
        waits for a lock at most LOOP_LOCK_TIMEOUT, then fails (503, to retry), instead of
        stopping the server. The request surfaces run their handlers in greenlets, where a
        write waits its turn; this is the net for one that does not."""
        if kept is None:
            with self._write_connection() as conn, conn.begin():
                if bounded:
                    _bound_lock_waits(conn)
                yield conn
            return
        try:
            with kept.begin():
                if bounded:
                    _bound_lock_waits(kept)
                yield kept
        except BaseException:
            self._pg_writers.drop(kept)
            raise
        self._pg_writers.give_back(kept)

    @contextmanager
    def _pg_member(self, conn: Connection, me: object) -> Iterator[Member]:
        """One write of a PostgreSQL group, in its savepoint (store/libpq_statements.py)."""
        libpq_statements = _libpq
        info = conn.connection.info
        session = libpq_statements.session_of(conn.connection)
        session.on_undone = functools.partial(_forget_noted, conn)
        member = libpq_statements.Member()
        # What an earlier member noted (summaries, row locks) is not this one's to rely on: its
        # savepoint may yet be rolled back (libpq_statements._undo_finished). This write locks
        # and reads its model itself, in its first round trip.
        _forget_noted(conn)
        libpq_statements.begin_member(info, member)
        self._writing.add(me)
        try:
            yield member
        except BaseException:
            libpq_statements.undo_member(info, member)
            raise
        finally:
            self._writing.discard(me)
        libpq_statements.end_member(info, member)

    @contextmanager
    def _joined(self, group: CommitGroup, me: object) -> Iterator[Connection]:
        """Write in the open group's transaction (store/group_commit.py), in a savepoint: a
        write that fails rolls back alone."""
        conn = group.conn
        # On the driver: SQLAlchemy's savepoint (a statement built and run with its events)
        # cost more than the COMMIT the group saves.
        driver: Any = conn.connection.driver_connection
        driver.execute("SAVEPOINT modelyard_group_write")
        self._writing.add(me)
        try:
            yield conn
        except BaseException as error:
            model_summary.forget_all(conn)  # what this write amended is undone
            if driver.in_transaction:
                driver.execute("ROLLBACK TO modelyard_group_write")
                driver.execute("RELEASE modelyard_group_write")
            else:  # SQLite rolled the whole transaction back (a full disk, an I/O error)
                self._groups.undone(group, error)
            raise
        finally:
            self._writing.discard(me)
        driver.execute("RELEASE modelyard_group_write")

    def _write_connection(self) -> Connection:
        """A new connection whose transactions begin as writes (SQLite: BEGIN IMMEDIATE)."""
        return self.engine.connect().execution_options(**{_WRITE: True})

    def _sqlite_writer(self) -> Connection:
        """The connection writes use, held by the write lock's owner only. Only one
        SQLite transaction writes at a time anyway, so one connection serves them all; taking
        a pooled connection and wrapping it for each write (checkout, events, checkin) cost
        ~8% of a write's CPU (bench/RESULTS.md, issue 21)."""
        conn = self._writer
        if conn is not None and self._writer_pid != _Process.pid:
            conn = None  # a forked worker: the parent's connection is not this process's
        if conn is None or conn.closed or conn.invalidated:
            conn = self._writer = self._write_connection()
            self._writer_pid = _Process.pid
        return conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with holding(), translated, self._reads.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        group = self._groups.joinable()
        if group is not None:
            self._groups.commit(group)
        if isinstance(self._write_lock, SqliteWriteLock):
            # The threads' lock only: the lock file may not exist, nor be creatable (a
            # database that could not be opened).
            with self._write_lock.threads:
                if self._writer is not None and self._writer_pid == _Process.pid:
                    self._writer.close()
                self._writer = None
        self._pg_writers.close_all()
        self.engine.dispose()
        if isinstance(self._write_lock, SqliteWriteLock):
            self._write_lock.close()
