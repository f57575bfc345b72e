"""The unit of work: one transaction, the repositories bound to it, and the events it records.

`units.write(actor)` / `units.read(actor)` open one (store/database.py gives the transaction);
its repositories are `uow.registry(namespace)`, `uow.uc_models`, `uow.catalog`, `uow.identity`,
`uow.activities`, `uow.webhooks`, `uow.audit`. What the commit hooks are, and in which order
they run, is set in one place: modelyard/bootstrap.commit_hooks.

Every mutation a service makes calls `record(...)`; the recorded events are handed to the
registered `before_commit` hooks inside the same transaction (the audit trail and the webhook
outbox are such hooks), so a change and its records commit or roll back together. Once the
transaction has committed, the events go to the `after_commit` hooks (waking the webhook
workers): those must be quick and their failures are logged, never raised to the caller.

A unit of work that ends with an access refusal (an error whose `denied` is set) rolls back,
and the refusal is handed to the `on_denied` hooks in a transaction of its own (or, past a few
a minute from one source, counted into a summary row: services/denied_log.py).
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
from modelyard.services.denied_log import DeniedLog
from modelyard.store.activities import ActivityRepository
from modelyard.store.audit import AuditRepository
from modelyard.store.catalog import CatalogRepository
from modelyard.store.database import Database
from modelyard.store.history import HistoryRepository
from modelyard.store.identity import IdentityRepository
from modelyard.store.point_reads import PointReads
from modelyard.store.policies import PolicyRepository
from modelyard.store.registry import RegistryRepository
from modelyard.store.secret_box import SecretBox
from modelyard.store.uc_models import UcModelRepository
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
    #: Why the changes are made, when the caller said; stamped on every recorded event.
    reason: str | None = None
    #: Seals and opens the secrets kept in the database (webhooks'); store/secret_box.py.
    secret_box: SecretBox | None = None

    # The repositories, bound to this unit's transaction (store/).

    def registry(self, namespace: str = "workspace") -> RegistryRepository:
        """Models, versions, tags and aliases of one namespace: "workspace" (the workspace
        registry) or "uc" (Unity Catalog), the `registry` column of their tables."""
        return RegistryRepository(self.conn, namespace)

    @cached_property
    def catalog(self) -> CatalogRepository:
        """Unity Catalog's hierarchy: catalogs, schemas, and the files queued for removal."""
        return CatalogRepository(self.conn)

    @cached_property
    def uc_models(self) -> UcModelRepository:
        """Unity Catalog models and versions: their schema, storage, status, files, lineage."""
        return UcModelRepository(self.conn)

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
        return WebhookRepository(self.conn, self.secret_box)

    @cached_property
    def history(self) -> HistoryRepository:
        """Alias, stage, tag and description history (services/history.py)."""
        return HistoryRepository(self.conn)

    @cached_property
    def policies(self) -> PolicyRepository:
        """Promotion policies and alias requests (issue 20)."""
        return PolicyRepository(self.conn)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.conn)

    def record(self, action: str, object_type: str, object_name: str,
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
        self.events.append(Event(action, object_type, object_name, before, after, self.scope,
                                 self.reason))


class UnitOfWorkFactory:
    """Opens units of work on one database and runs the commit hooks for write units."""

    def __init__(self, database: Database, secret_box: SecretBox | None = None,
                 refusals_per_minute: int = 10, refusal_window: float = 60.0) -> None:
        self.database = database
        #: Without one, units can do everything but read or write a webhook.
        self.secret_box = secret_box
        self.before_commit: list[CommitHook] = []
        #: Called, in a write transaction of their own, with one event per refused request.
        self.on_denied: list[CommitHook] = []
        #: Called after a write unit with events has committed, outside any transaction.
        self.after_commit: list[AfterCommitHook] = []
        #: The hot single-statement reads, outside any unit of work (see store.point_reads).
        #: RegistryService's get-version paths depend on it: keep it.
        self.point_reads = PointReads(database)
        #: Refusals, written one by one up to a few per minute and source, then summarized.
        self.denied_log = DeniedLog(self._write_denied, refusals_per_minute,
                                    round(refusal_window * 1000))

    @contextmanager
    def write(self, actor: Actor, scope: str = "workspace",
              reason: str | None = None) -> Iterator[UnitOfWork]:
        try:
            with self.database.write() as conn:
                uow = UnitOfWork(conn, actor, scope=scope, reason=reason or actor.reason,
                                 secret_box=self.secret_box)
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
                yield UnitOfWork(conn, actor, secret_box=self.secret_box)
        except ModelyardError as error:
            if error.denied is not None:
                self.record_denied(actor, *error.denied)
            raise

    def record_denied(self, actor: Actor, action: str, object_type: str,
                      object_name: str) -> None:
        if self.on_denied:
            self.denied_log.record(actor, f"denied.{action}", object_type, object_name)

    def _write_denied(self, actor: Actor, action: str, object_type: str, object_name: str,
                      after: dict[str, Any] | None) -> None:
        event = Event(action, object_type, object_name, after=after)
        with self.database.write() as conn:
            for hook in self.on_denied:
                hook(conn, actor, [event])
