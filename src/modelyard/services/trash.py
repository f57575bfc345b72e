"""The trash, retention and legal holds (issue 20, item 5).

Every delete of a model or a version, in either registry and whichever surface asks (MLflow,
databricks-sdk, unitycatalog-client, the web UI, the CLI), goes through the registry services,
which hand it to `TrashBin` inside their unit of work: the model or version is moved to the
trash (store/trash.py) for the retention period instead of being removed. It disappears from
every API and list, its name is free at once, its version numbers are never handed out again
(the model's `last_version` stays), its files stay.

`TrashService` is what owners and admins use: list, restore (refused when the name was reused
meanwhile), purge (rows and files); `sweep()` purges what outlived the retention period, run by
`start_trash_sweeper`. Legal holds block deleting and purging what they name until released.
Everything is in the audit trail: the delete (`registered_model.delete`, with the item in
`after.trash`), `*.restore`, `*.purge`, `legal_hold.set` and `legal_hold.release`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Connection

from modelyard.domain import names
from modelyard.domain.access import Level
from modelyard.domain.actor import SYSTEM
from modelyard.domain.catalog import full_model_name
from modelyard.domain.changes import Event
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    ModelyardError,
    NotFound,
    Unavailable,
)
from modelyard.domain.trash import (
    UC,
    WORKSPACE,
    Hold,
    TrashItem,
    blocking_hold,
    held_error,
    parse_reason,
    parse_registry,
    retention_ms,
)
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.storage_gc import collect_garbage
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.storage.base import ArtifactStore
from modelyard.store.trash import TrashRepository

log = logging.getLogger("modelyard.trash")
_SWEEP_BATCH = 100


def _label(name: str, version: int | None) -> str:
    return name if version is None else f"{name}/{version}"


class TrashBin:
    """What a delete does inside the registry services' unit of work."""

    def __init__(self, retention_days: float = 30.0) -> None:
        self.retention_days = retention_days

    def check_deletable(self, uow: UnitOfWork, registry: str, name: str,
                        version: int | None = None, doing: str = "delete",
                        audited: bool = True) -> None:
        """Raise when a legal hold protects the model (or version); deleting a model is refused
        while any of its versions is held. `audited`: the refusal is in the audit trail as
        `denied.<kind>.<doing>` (not the sweep's, which meets the same hold every round)."""
        hold = blocking_hold(uow.trash.holds(registry, [name]), version)
        if hold is not None:
            what = f"model {name}" if version is None else f"model version {name}/{version}"
            error = held_error(hold, doing, what)
            if audited:
                kind = "registered_model" if version is None else "model_version"
                error.denied = (f"{kind}.{doing}", kind, _label(name, version))
            raise error

    def _expiry(self, now: int) -> int:
        return now + retention_ms(self.retention_days)

    def delete_model(self, uow: UnitOfWork, registry: str, model_id: int, name: str,
                     owner: str, schema_id: str | None = None) -> dict[str, Any]:
        """Move the model (with its versions) to the trash; what the audit event's `after`
        says about it."""
        self.check_deletable(uow, registry, name)
        now = now_ms()
        expires = self._expiry(now)
        item_id = uow.trash.trash_model(registry, model_id, name, owner, schema_id,
                                        uow.actor.name, now, expires)
        return {"trash": {"id": str(item_id), "expires_at": expires}}

    def delete_version(self, uow: UnitOfWork, registry: str, model_id: int, name: str,
                       version_id: int, version: int, owner: str) -> dict[str, Any]:
        self.check_deletable(uow, registry, name, version)
        now = now_ms()
        expires = self._expiry(now)
        item_id = uow.trash.trash_version(
            registry, model_id, name, version_id, version, owner, uow.actor.name, now, expires)
        return {"trash": {"id": str(item_id), "expires_at": expires}}


class TrashService:
    def __init__(self, units: UnitOfWorkFactory, artifacts: ArtifactStore,
                 bin: TrashBin | None = None) -> None:
        self.units = units
        self.artifacts = artifacts
        self.bin = bin or TrashBin()

    # ---- the trash ---------------------------------------------------------------------------

    def contents(self, actor: Actor, registry: str | None = None) -> list[TrashItem]:
        """What the caller may restore or purge: everything for an admin; else the items it
        owns (or whose owner is one of its groups) or deleted itself."""
        if registry is not None:
            registry = parse_registry(registry, "")
        with self.units.read(actor) as uow:
            found = uow.trash.items(registry)
        return [item for item in found if _may_manage(actor, item)]

    def restore(self, actor: Actor, name: str, version: object = None,
                registry: object = None) -> TrashItem:
        """Bring back the most recently deleted item of that name (and version): the model
        with its versions, tags, aliases and files, or the version with its tags, files and
        the aliases that are still free."""
        name, number, namespace = _target(name, version, registry)
        with self.units.write(actor, scope=namespace) as uow:
            repo = uow.trash
            item = self._find(uow, repo, actor, namespace, name, number, "restore")
            now = now_ms()
            if item.version is None:
                restored_name = self._restored_name(repo, item)
                repo.restore_model(item, restored_name, now)
                uow.record("registered_model.restore", "registered_model", restored_name,
                           after={"trash_id": str(item.id), "deleted_at": item.deleted_at,
                                  "deleted_by": item.deleted_by})
            else:
                model = repo.model_registry(item.model_id)
                if model is None or model.registry != namespace:
                    where = ("is in the trash too: restore the model first"
                             if model is not None else "was purged")
                    raise FailedPrecondition(
                        f"Cannot restore model version {item.label}: its model {where}.")
                if repo.version_taken(item.model_id, item.version):
                    raise AlreadyExists(f"Cannot restore model version {item.label}: model "
                                        f"{model.name} has a version {item.version} again.")
                aliases = repo.restore_version(item, now)
                uow.record("model_version.restore", "model_version",
                           f"{model.name}/{item.version}",
                           after={"trash_id": str(item.id), "aliases": aliases,
                                  "deleted_at": item.deleted_at,
                                  "deleted_by": item.deleted_by})
            return item

    def purge(self, actor: Actor, name: str, version: object = None,
              registry: object = None) -> list[TrashItem]:
        """Remove the most recently deleted item of that name (and version) for good, rows
        and files (a model with its versions deleted before it); what was purged."""
        name, number, namespace = _target(name, version, registry)
        with self.units.write(actor, scope=namespace) as uow:
            repo = uow.trash
            item = self._find(uow, repo, actor, namespace, name, number, "purge")
            purged = self._purge(uow, repo, [item])
        self._collect()
        return purged

    def sweep(self, now: int | None = None) -> int:
        """Purge what outlived the retention period (held items stay); how many items."""
        now = now if now is not None else now_ms()
        purged = 0
        while True:
            with self.units.read(SYSTEM) as uow:
                due = uow.trash.expired(now, _SWEEP_BATCH)
            done = 0
            for item in due:
                try:
                    with self.units.write(SYSTEM, scope=item.registry) as uow:
                        repo = uow.trash
                        current = repo.item(item.id)
                        if current is None:
                            continue  # restored, or purged with its model meanwhile
                        purged += len(self._purge(uow, repo, [current], expired=True))
                        done += 1
                except ModelyardError as error:  # held: it stays until the hold is released
                    log.info("trash item %s (%s) not purged: %s", item.id, item.label,
                             error.message)
            if done:
                self._collect()
            if len(due) < _SWEEP_BATCH or not done:
                return purged

    def _purge(self, uow: UnitOfWork, repo: TrashRepository, items: list[TrashItem],
               expired: bool = False) -> list[TrashItem]:
        everything: dict[int, TrashItem] = {}
        for item in items:
            self.bin.check_deletable(uow, item.registry, item.name, item.version,
                                     doing="purge", audited=not expired)
            everything[item.id] = item
            if item.version is None:  # its versions trashed one by one go with it
                for version in repo.version_items_of(item.model_id):
                    self.bin.check_deletable(uow, version.registry, version.name,
                                             version.version, doing="purge",
                                             audited=not expired)
                    everything[version.id] = version
        purged = list(everything.values())
        rows = [i.holder_id if i.version is not None else i.model_id for i in purged]
        if any(i.registry == UC for i in purged):
            # Only Unity Catalog versions' files are the registry's; a workspace version's
            # source belongs to its run.
            uow.catalog.queue_garbage(repo.storage_locations(
                [r for r in rows if r is not None]), "purged", now_ms())
        repo.purge(purged)
        for item in purged:
            uow.scope = item.registry
            uow.record(f"{item.kind}.purge", item.kind, item.label,
                       before={"trash_id": str(item.id), "deleted_at": item.deleted_at,
                               "deleted_by": item.deleted_by},
                       after={"expired": expired})
        return purged

    def _find(self, uow: UnitOfWork, repo: TrashRepository, actor: Actor, registry: str,
              name: str, version: int | None, doing: str) -> TrashItem:
        found = repo.items(registry, name, version, any_version=False, limit=1)
        what = f"model {name}" if version is None else f"model version {name}/{version}"
        if not found:
            raise NotFound(f"No {what} in the {registry} registry's trash (GET "
                           "/api/modelyard/v1/trash lists it; purged items are gone).")
        item = found[0]
        if not _may_manage(actor, item):
            raise authorization.deny(
                f"User '{actor.name}' may not {doing} {what} from the trash: only its owner "
                f"({item.owner}), who deleted it, or a metastore admin may.",
                f"{item.kind}.{doing}", item.kind, item.label)
        return item

    @staticmethod
    def _restored_name(repo: TrashRepository, item: TrashItem) -> str:
        name = item.name
        if item.registry == UC:
            schema = repo.schema_full_name(item.schema_id or "")
            if schema is None:
                raise FailedPrecondition(
                    f"Cannot restore model {item.name}: its schema was deleted since (a schema "
                    "created again under that name is another one). Purge it instead.")
            name = f"{schema}.{item.name.split('.')[-1]}"
        if repo.live_model(item.registry, name) is not None:
            raise AlreadyExists(
                f"Cannot restore model {name}: the name was reused by a model created after "
                f"this one was deleted. Rename or delete that model first, then restore.")
        return name

    def _collect(self) -> None:
        try:
            collect_garbage(self.units.database, self.artifacts)
        except Exception as error:  # queued: the next sweep removes them
            log.warning("purged files not removed yet (%s: %s); the sweep retries",
                        type(error).__name__, error)

    # ---- legal holds -------------------------------------------------------------------------

    def holds(self, actor: Actor) -> list[Hold]:
        """Every hold: that something is held is not secret from those it refuses."""
        with self.units.read(actor) as uow:
            return uow.trash.holds()

    def set_hold(self, actor: Actor, name: str, version: object = None, reason: object = None,
                 registry: object = None) -> Hold:
        """Hold the model (or version): metastore admins, and whoever manages the model (a
        workspace model's CAN MANAGE, a UC model's owner)."""
        name, number, namespace = _target(name, version, registry)
        reason = parse_reason(reason)
        with self.units.write(actor, scope=namespace) as uow:
            repo = uow.trash
            self._require_hold_right(uow, repo, actor, namespace, name, number, "set")
            if not repo.version_exists(namespace, name, number):
                what = f"model {name}" if number is None else f"model version {name}/{number}"
                raise NotFound(f"No {what} in the {namespace} registry or its trash.")
            if repo.hold(namespace, name, number) is not None:
                raise AlreadyExists(f"{_label(name, number)} is already under a legal hold.")
            hold = Hold(namespace, name, number, reason, actor.name, now_ms())
            repo.insert_hold(hold)
            uow.record("legal_hold.set", "registered_model" if number is None
                       else "model_version", hold.label, after=hold.as_dict())
            return hold

    def release_hold(self, actor: Actor, name: str, version: object = None,
                     registry: object = None) -> Hold:
        """Release a hold: metastore admins, and whoever set it."""
        name, number, namespace = _target(name, version, registry)
        with self.units.write(actor, scope=namespace) as uow:
            repo = uow.trash
            hold = repo.hold(namespace, name, number)
            if hold is None:
                raise NotFound(f"{_label(name, number)} is under no legal hold in the "
                               f"{namespace} registry.")
            if not actor.is_admin and hold.created_by != actor.name:
                raise authorization.deny(
                    f"User '{actor.name}' may not release the legal hold on {hold.label}: only "
                    f"who set it ({hold.created_by}) or a metastore admin may.",
                    "legal_hold.release", "registered_model" if number is None
                    else "model_version", hold.label)
            repo.delete_hold(namespace, name, number)
            uow.record("legal_hold.release", "registered_model" if number is None
                       else "model_version", hold.label, before=hold.as_dict())
            return hold

    @staticmethod
    def _require_hold_right(uow: UnitOfWork, repo: TrashRepository, actor: Actor,
                            registry: str, name: str, version: int | None, doing: str) -> None:
        if actor.is_admin:
            return
        action = f"legal_hold.{doing}"
        if repo.live_model(registry, name) is not None:
            if registry == WORKSPACE:
                authorization.require_workspace_model(uow.conn, actor, name, Level.CAN_MANAGE,
                                                      action)
            else:
                authorization.require_uc(uow.conn, actor, "model.own", name)
            return
        # Only in the trash: the owners of its items.
        items = repo.items(registry, name)
        if not any(_may_manage(actor, item) for item in items):
            raise authorization.deny(
                f"User '{actor.name}' may not set a legal hold on {_label(name, version)}: "
                "only the model's owner or a metastore admin may.", action,
                "registered_model", name)


def refuse_held_models(uow: UnitOfWork, registry: str, model_ids: list[int],
                       what: str) -> None:
    """For deletes that take models along (a catalog or schema with force): refused while a
    legal hold protects one of them or one of their versions."""
    holds = uow.trash.holds(registry, uow.trash.model_names(model_ids))
    if holds:
        raise held_error(holds[0], "delete", what)


def follow_renames(conn: Connection, actor: Actor, events: list[Event]) -> None:
    """Before-commit hook: legal holds follow a renamed model, schema or catalog, in the
    renaming transaction (a hold must not be shaken off by a rename)."""
    for event in events:
        if event.object_type not in ("registered_model", "schema", "catalog") or \
                not event.before or not event.after or "name" not in event.after:
            continue
        old, new = event.before.get("name"), event.after["name"]
        if not old or old == new or not event.action.endswith((".rename", ".update")):
            continue
        if event.object_type == "schema":  # schema events carry leaf names
            catalog = event.object_name.split(".")[0]
            old, new = f"{catalog}.{old}", f"{catalog}.{new}"
        registry = WORKSPACE if event.action == "registered_model.rename" else UC
        TrashRepository(conn).rename_holds(registry, old, new)


def _may_manage(actor: Actor, item: TrashItem) -> bool:
    return actor.is_admin or item.owner in actor.principals or item.deleted_by == actor.name


def _target(name: object, version: object, registry: object) -> tuple[str, int | None, str]:
    if not isinstance(name, str) or not name:
        raise InvalidArgument("Missing 'name': the model's name (with 'version' for one "
                              "version).")
    namespace = parse_registry(registry, name)
    if namespace == UC:
        name = full_model_name(name)
    number = None if version is None or version == "" else names.parse_version(
        version if isinstance(version, (str, int)) else str(version))
    return name, number, namespace


def start_trash_sweeper(service: TrashService, interval: float) -> threading.Event:
    """Run `service.sweep` now and every `interval` seconds in a daemon thread; set the
    returned event to stop it. Every replica may run one: each purge is its own transaction
    and re-reads its item."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                purged = service.sweep()
                if purged:
                    log.info("purged %d item(s) past the trash retention period", purged)
            except Unavailable as error:
                log.warning("trash sweep skipped: %s", error.message)
            except Exception as error:
                log.error("trash sweep failed: %s: %s", type(error).__name__, error)
                log.debug("trash sweep failed", exc_info=True)
            if stop.wait(interval):
                return

    threading.Thread(target=loop, name="modelyard-trash-sweeper", daemon=True).start()
    return stop
