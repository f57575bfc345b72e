"""Unity Catalog grants: read, change and explain (effective permissions) privileges on the
metastore, catalogs, schemas and models.

Grants are kept by securable type and full name. A before-commit hook (`follow_changes`) moves
them along when a catalog, schema or model is renamed and drops them when it is deleted, so a
new object of the same name never inherits them. A model deleted into the trash keeps its
grants there (under its item's `trash:<id>`, which no full name matches): restoring it brings
them back, purging it drops them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from modelyard.domain.access import (
    CATALOG,
    MODEL,
    SCHEMA,
    Privilege,
    Securable,
    parse_privilege,
    parse_securable,
    require_applicable,
)
from modelyard.domain.catalog import validate_name
from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.domain.principals import ALL_USERS
from modelyard.domain.trash import MODEL_TRASH_ACTIONS, UC, trash_item_of, trash_registry
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import Event, UnitOfWorkFactory
from modelyard.store.identity import IdentityRepository

_LEVEL = {Securable.CATALOG: CATALOG, Securable.SCHEMA: SCHEMA, Securable.MODEL: MODEL}
_DEPTH = {Securable.CATALOG: 1, Securable.SCHEMA: 2, Securable.MODEL: 3}


@dataclass(frozen=True, slots=True)
class Assignment:
    principal: str
    privileges: tuple[Privilege, ...]


@dataclass(frozen=True, slots=True)
class EffectivePrivilege:
    privilege: Privilege
    inherited_from_type: str | None  # None: granted on the object itself
    inherited_from_name: str | None


@dataclass(frozen=True, slots=True)
class Change:
    principal: str
    add: tuple[Privilege, ...]
    remove: tuple[Privilege, ...]


def parse_change(principal: object, add: object, remove: object) -> Change:
    if not isinstance(principal, str) or not principal:
        raise InvalidArgument("Each change needs a 'principal'.")
    lists = []
    for value, field in ((add, "add"), (remove, "remove")):
        if value is None:
            value = []
        if not isinstance(value, list):
            raise InvalidArgument(f"'{field}' must be a list of privileges.")
        lists.append(tuple(parse_privilege(v) for v in value))
    return Change(principal, lists[0], lists[1])


class GrantService:
    def __init__(self, units: UnitOfWorkFactory) -> None:
        self.units = units

    def _target(self, conn: Connection, actor: Actor, securable_type: str, full_name: str,
                op: str) -> tuple[Securable, str]:
        securable = parse_securable(securable_type)
        if securable is Securable.METASTORE:
            if op.endswith("manage"):
                authorization.require_admin(actor, "grants.update", "metastore", "metastore")
            return securable, "metastore"
        parts = full_name.split(".") if isinstance(full_name, str) else []
        if len(parts) != _DEPTH[securable]:
            raise InvalidArgument(f"Invalid {securable.value} name {full_name!r}.")
        # Unity Catalog names are stored lower-cased.
        parts = [validate_name(part, f"{securable.value} name") for part in parts]
        name = ".".join(parts)
        # One read of the path: which objects exist, and the caller's standing on them.
        view, exists = authorization.uc_view(conn, actor, name)
        level = _LEVEL[securable]
        if not exists[level]:
            raise authorization._missing(level, parts, exists[CATALOG])
        prefix = "catalog" if level == CATALOG else "schema" if level == SCHEMA else "model"
        if not actor.is_admin:  # admins hold every privilege (as in authorization.require_uc)
            authorization.check_uc(actor, f"{prefix}.{op}", name, view, exists)
        return securable, name

    def get(self, actor: Actor, securable_type: str, full_name: str,
            principal: str | None = None) -> list[Assignment]:
        with self.units.read(actor) as uow:
            securable, name = self._target(uow.conn, actor, securable_type, full_name, "read")
            rows = uow.identity.grants_on([(securable.value, name)])
            sees_all = self._may_manage(uow.conn, actor, securable, name)
        found: dict[str, list[Privilege]] = {}
        for _, _, who, privilege in rows:
            if (principal and who != principal) or (not sees_all
                                                    and who not in actor.principals):
                continue
            found.setdefault(who, []).append(Privilege(privilege))
        return [Assignment(who, tuple(sorted(p))) for who, p in sorted(found.items())]

    @staticmethod
    def _may_manage(conn: Connection, actor: Actor, securable: Securable, name: str) -> bool:
        if actor.is_admin:
            return True
        if securable is Securable.METASTORE:
            return False
        level = _LEVEL[securable]
        prefix = "catalog" if level == CATALOG else "schema" if level == SCHEMA else "model"
        return authorization.uc_may(conn, actor, f"{prefix}.manage", name)

    def update(self, actor: Actor, securable_type: str, full_name: str,
               changes: list[Change]) -> list[Assignment]:
        with self.units.write(actor) as uow:
            securable, name = self._target(uow.conn, actor, securable_type, full_name,
                                           "manage")
            repo = uow.identity
            for change in changes:
                # Only what is added: a grant made before the rule existed can still go.
                require_applicable(change.add, securable, name)
                if change.principal != ALL_USERS and \
                        repo.principal_by_name(change.principal) is None:
                    raise NotFound(f"User not found: {change.principal}")
                for privilege in change.add:
                    repo.grant(securable.value, name, change.principal, privilege.value)
                for privilege in change.remove:
                    repo.revoke(securable.value, name, change.principal, privilege.value)
                uow.record("grants.update", securable.value, name,
                           after={"principal": change.principal,
                                  "add": [p.value for p in change.add],
                                  "remove": [p.value for p in change.remove]})
        return self.get(actor, securable_type, full_name)

    def effective(self, actor: Actor, securable_type: str, full_name: str,
                  principal: str | None = None) -> dict[str, list[EffectivePrivilege]]:
        """Per principal: its privileges on the object, granted there or inherited."""
        with self.units.read(actor) as uow:
            securable, name = self._target(uow.conn, actor, securable_type, full_name, "read")
            sees_all = self._may_manage(uow.conn, actor, securable, name)
            path: list[tuple[str, str]] = []
            if securable is Securable.METASTORE:
                path = [("metastore", "metastore")]
            else:
                parts = name.split(".")
                for depth, kind in ((1, Securable.CATALOG), (2, Securable.SCHEMA),
                                    (3, Securable.MODEL)):
                    if depth <= len(parts):
                        path.append((kind.value, ".".join(parts[:depth])))
            rows = uow.identity.grants_on(path)
        result: dict[str, list[EffectivePrivilege]] = {}
        for on_type, on, who, privilege in rows:
            if (principal and who != principal) or (not sees_all
                                                    and who not in actor.principals):
                continue
            own = (on_type, on) == (securable.value, name)
            result.setdefault(who, []).append(EffectivePrivilege(
                Privilege(privilege), None if own else on_type.upper(), None if own else on))
        return dict(sorted(result.items()))


def follow_changes(conn: Connection, actor: Actor, events: list[Event]) -> None:
    """The before-commit hook: carry grants across renames, drop them with deleted objects."""
    for event in events:
        kind = {"catalog": Securable.CATALOG, "schema": Securable.SCHEMA,
                "registered_model": Securable.MODEL}.get(event.object_type)
        if kind is None:
            continue
        if kind is Securable.MODEL and event.action in MODEL_TRASH_ACTIONS:
            if event.registry == UC:  # a workspace model has no grants
                _follow_the_trash(IdentityRepository(conn), event)
            continue
        if event.action.endswith(".delete"):
            IdentityRepository(conn).move_grants(event.object_name, None)
        elif event.action.endswith(".update") and event.before and event.after and \
                "name" in event.after and event.before.get("name") != event.after["name"]:
            old, new = event.before["name"], event.after["name"]
            if kind is Securable.SCHEMA:  # schema events carry leaf names
                catalog = event.object_name.split(".")[0]
                old, new = f"{catalog}.{old}", f"{catalog}.{new}"
            IdentityRepository(conn).move_grants(old, new)


def _follow_the_trash(repo: IdentityRepository, event: Event) -> None:
    """A Unity Catalog model's grants go to the trash with it and come back with it (under the
    name it is restored as); purged, or deleted without the trash, they are dropped."""
    item_id = trash_item_of(event)
    trashed = None if item_id is None else trash_registry(item_id)
    if event.action == "registered_model.delete":
        repo.move_grants(event.object_name, trashed)
    elif trashed is not None:
        repo.move_grants(trashed, event.object_name
                         if event.action == "registered_model.restore" else None)
