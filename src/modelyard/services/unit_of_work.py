"""The unit of work: one transaction, the repositories bound to it, and the events it records.

Every mutation a service makes calls `record(...)`; the recorded events are handed to the
registered `before_commit` hooks inside the same transaction (the audit trail and the webhook
outbox are such hooks), so a change and its records commit or roll back together. Once the
transaction has committed, the events go to the `after_commit` hooks (waking the webhook
workers): those must be quick and their failures are logged, never raised to the caller.

A unit of work that ends with an access refusal (an error whose `denied` is set) rolls back,
and the refusal is handed to the `on_denied` hooks in a transaction of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Connection

from modelyard.domain.actor import Actor
from modelyard.domain.changes import Event
from modelyard.domain.errors import ModelyardError
from modelyard.store.activities import ActivityRepository
from modelyard.store.audit import AuditRepository
from modelyard.store.catalog import CatalogRepository
from modelyard.store.database import Database
from modelyard.store.identity import IdentityRepository
from modelyard.store.point_reads import PointReads
from modelyard.store.registry import RegistryRepository
from modelyard.store.webhooks import WebhookRepository

CommitHook = Callable[[Connection, Actor, list[Event]], None]
AfterCommitHook = Callable[[Actor, list[Event]], None]
log = logging.getLogger("modelyard.unit_of_work")


@dataclass
class UnitOfWork:
    conn: Connection
    actor: Actor
    events: list[Event] = field(default_factory=list)
    #: The registry the unit's changes are in; stamped on every recorded event.
    scope: str = "workspace"

    # The repositories, bound to this unit's transaction (store/).

    def registry(self, registry: str = "workspace") -> RegistryRepository:
        """Models, versions, tags and aliases of one registry namespace ("workspace", "uc")."""
        return RegistryRepository(self.conn, registry)

    @cached_property
    def catalog(self) -> CatalogRepository:
        """Unity Catalog: catalogs, schemas, and the UC side of models and versions."""
        return CatalogRepository(self.conn)

    @cached_property
    def identity(self) -> IdentityRepository:
        """Principals, tokens, UC grants and workspace permission levels."""
        return IdentityRepository(self.conn)

    @cached_property
    def activities(self) -> ActivityRepository:
        """Workspace transition requests, comments and stage activities."""
        return ActivityRepository(self.conn)

    @cached_property
    def webhooks(self) -> WebhookRepository:
        return WebhookRepository(self.conn)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.conn)

    def record(self, action: str, object_type: str, object_name: str,
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
        self.events.append(Event(action, object_type, object_name, before, after, self.scope))


class UnitOfWorkFactory:
    """Opens units of work on one database and runs the commit hooks for write units."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.before_commit: list[CommitHook] = []
        #: Called, in a write transaction of their own, with one event per refused request.
        self.on_denied: list[CommitHook] = []
        #: Called after a write unit with events has committed, outside any transaction.
        self.after_commit: list[AfterCommitHook] = []
        #: The hot single-statement reads, outside any unit of work (see store.point_reads).
        #: RegistryService's get-version paths depend on it: keep it.
        self.point_reads = PointReads(database)

    @contextmanager
    def write(self, actor: Actor, scope: str = "workspace") -> Iterator[UnitOfWork]:
        try:
            with self.database.write() as conn:
                uow = UnitOfWork(conn, actor, scope=scope)
                yield uow
                if uow.events:
                    for hook in self.before_commit:
                        hook(conn, actor, uow.events)
        except ModelyardError as error:
            if error.denied is not None:
                self.record_denied(actor, *error.denied)
            raise
        if uow.events:
            self._run_after_commit(actor, uow.events)

    def _run_after_commit(self, actor: Actor, events: list[Event]) -> None:
        for hook in self.after_commit:
            try:
                hook(actor, events)
            except Exception:  # the change is committed: the caller must still see success
                log.exception("after-commit hook %s failed", getattr(hook, "__name__", hook))

    @contextmanager
    def read(self, actor: Actor) -> Iterator[UnitOfWork]:
        try:
            with self.database.read() as conn:
                yield UnitOfWork(conn, actor)
        except ModelyardError as error:
            if error.denied is not None:
                self.record_denied(actor, *error.denied)
            raise

    def record_denied(self, actor: Actor, action: str, object_type: str,
                      object_name: str) -> None:
        if not self.on_denied:
            return
        event = Event(f"denied.{action}", object_type, object_name)
        with self.database.write() as conn:
            for hook in self.on_denied:
                hook(conn, actor, [event])
