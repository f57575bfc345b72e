"""Model history: who moved an alias, changed a stage, a tag or a description, when and why.

`record` is a before-commit hook (bootstrap.commit_hooks): each change's history entries are
written in the change's own transaction, after the audit row, so they commit together. The
audit chain's head lock serializes every writing transaction, so entry ids grow in commit
order: the live stream (services/event_stream.py) can follow the table by id without missing
a row that commits late.

`HistoryService` answers the history API (newest first, paged), resolves an alias as of a past
time, and moves an alias with compare-and-set or back to its previous target (rollback)
through each registry's own service, so the permissions are those of moving the alias.
Reading history needs what reading the model needs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from modelyard.domain import history
from modelyard.domain.access import Level
from modelyard.domain.aliases import Expected
from modelyard.domain.changes import Event
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import FailedPrecondition, InvalidArgument
from modelyard.domain.history import Entry
from modelyard.domain.paging import decode_page_token, encode_page_token
from modelyard.domain.trash import MODEL_TRASH_ACTIONS, trash_item_of, trash_registry
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.registry import RegistryService
from modelyard.services.uc_models import UcModelService
from modelyard.services.unit_of_work import UnitOfWorkFactory
from modelyard.store.history import HistoryRepository
from modelyard.store.registry import RegistryRepository
from modelyard.store.uc_models import UcModelRepository

WORKSPACE, UC = "workspace", "uc"
MAX_PAGE = 1000


def record(conn: Connection, actor: Actor, events: list[Event]) -> None:
    """The before-commit hook: one history entry per alias, stage, tag or description change;
    a renamed model's history follows it, a deleted model's goes with it."""
    repo = HistoryRepository(conn)
    now = now_ms()
    rows: list[dict[str, Any]] = []
    for event in events:
        moved = history.renamed(event)
        if moved is not None:
            repo.append(rows)
            rows = []
            repo.rename(event.registry, *moved)
        if event.action in MODEL_TRASH_ACTIONS:
            repo.append(rows)
            rows = []
            _follow_the_trash(repo, event)
        for change in history.changes_of(event):
            row = {"registry": change.registry, "model_name": change.model_name[:1024],
                   "kind": change.kind, "subject": change.subject[:256],
                   "version": change.version, "action": change.action,
                   "value": change.value, "actor": actor.name, "time": now,
                   "reason": change.reason}
            if change.previous_known:
                rows.append({**row, "previous": change.previous})
            else:
                # After the entries before it, which its previous value may be one of.
                repo.append(rows)
                rows = []
                repo.append_after_last(row, change)
    repo.append(rows)


def _follow_the_trash(repo: HistoryRepository, event: Event) -> None:
    """A deleted model's history goes to the trash with it (its row's registry there,
    `trash:<item id>`): a new model of that name starts afresh, and restoring the model brings
    its history back (under the name it is restored as); purging it removes the history."""
    item_id = trash_item_of(event)
    if event.action == "registered_model.delete":
        if item_id is None:  # not kept in the trash: gone for good
            repo.forget(event.registry, event.object_name)
        else:
            repo.move(event.registry, event.object_name, trash_registry(item_id),
                      event.object_name)
    elif item_id is not None:
        trashed = trash_registry(item_id)
        if event.action == "registered_model.restore":
            repo.move_all(trashed, event.registry, event.object_name)
        else:
            repo.forget_all(trashed)


def registry_of(name: str, registry: str | None) -> str:
    """Which registry a name is in: as given, else Unity Catalog for a three-level name."""
    if registry in (WORKSPACE, UC):
        return registry
    if registry:
        raise InvalidArgument(f"Invalid registry '{registry}': use 'workspace' or 'uc'.")
    return UC if name.count(".") == 2 else WORKSPACE


def parse_time(value: str) -> int:
    """Epoch milliseconds, or an ISO 8601 time (UTC when it names no zone), as epoch ms."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"Invalid as_of '{value}': give epoch milliseconds or an ISO "
                              "8601 time such as 2026-12-05T12:00:00Z.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class HistoryService:
    def __init__(self, units: UnitOfWorkFactory, registry: RegistryService,
                 uc_models: UcModelService) -> None:
        self.units = units
        self.registry = registry
        self.uc_models = uc_models

    # ---- access --------------------------------------------------------------------------

    def _require_read(self, conn: Connection, actor: Actor, registry: str, name: str) -> None:
        if registry == UC:
            authorization.require_uc(conn, actor, "model.read", name)
            UcModelRepository(conn).model_row(name)  # a missing model: its not-found error
        else:
            authorization.require_workspace_model(conn, actor, name, Level.CAN_READ,
                                                  "registered_model.history")
            if actor.is_admin:
                RegistryRepository(conn, WORKSPACE).model_id(name)

    def may_read(self, actor: Actor, registry: str, name: str) -> bool:
        """Whether the caller may read the model (the stream asks once per model)."""
        if actor.is_admin:
            return True
        with self.units.database.read() as conn:
            try:
                if registry == UC:
                    return authorization.uc_may(conn, actor, "model.read", name)
                authorization.require_workspace_model(conn, actor, name, Level.CAN_READ,
                                                      "registered_model.history")
                return True
            except Exception:  # refused or gone: either way, nothing to show
                return False

    # ---- reads ---------------------------------------------------------------------------

    def entries(self, actor: Actor, name: str, registry: str | None = None,
                kind: str | None = None, subject: str | None = None,
                version: int | None = None, page_token: str | None = None,
                max_results: int | None = None) -> tuple[list[Entry], str | None]:
        """The model's history (of one kind, subject, version), newest first, paged."""
        space = registry_of(name, registry)
        if kind is not None and kind not in history.KINDS:
            raise InvalidArgument(f"Invalid kind '{kind}': use one of {', '.join(history.KINDS)}.")
        limit = max_results or 100
        if not 0 < limit <= MAX_PAGE:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_PAGE}.")
        offset = decode_page_token(page_token)
        with self.units.read(actor) as uow:
            self._require_read(uow.conn, actor, space, name)
            found = uow.history.entries(space, name, kind, subject, version, offset, limit + 1)
        more = len(found) > limit
        return found[:limit], encode_page_token(offset + limit) if more else None

    def alias_as_of(self, actor: Actor, name: str, alias: str, at_ms: int,
                    registry: str | None = None) -> Entry | None:
        """The alias's latest change at or before `at_ms` (its value: the target then)."""
        space = registry_of(name, registry)
        with self.units.read(actor) as uow:
            self._require_read(uow.conn, actor, space, name)
            return uow.history.as_of(space, name, history.ALIAS, alias, at_ms)

    # ---- moves ---------------------------------------------------------------------------

    def move_alias(self, actor: Actor, name: str, alias: str, version: int | str,
                   expected: Expected, reason: str | None = None,
                   registry: str | None = None) -> None:
        """Move the alias (compare-and-set when `expected` is not ANY_TARGET)."""
        if registry_of(name, registry) == UC:
            self.uc_models.set_alias(actor, name, alias, version, expected, reason)
        else:
            self.registry.set_registered_model_alias(actor, name, alias, version, expected,
                                                     reason)

    def rollback(self, actor: Actor, name: str, alias: str, reason: str | None = None,
                 registry: str | None = None) -> int:
        """Move the alias back to where it pointed before its latest move; return that
        version. Compare-and-set on the current target: a concurrent move makes it a 409."""
        found, _ = self.entries(actor, name, registry, history.ALIAS, alias, max_results=50)
        # The latest real move (a set to the version already pointed at, as recorded before
        # such sets stopped being recorded, moved nothing).
        moves = [e for e in found if e.value != e.previous]
        if not moves or moves[0].value is None or moves[0].previous is None:
            raise FailedPrecondition(
                f"Alias {name}@{alias} has no previous target to roll back to: its history "
                "shows no move from another version.")
        target, current = int(moves[0].previous), int(moves[0].value)
        self.move_alias(actor, name, alias, target, current, reason, registry)
        return target
