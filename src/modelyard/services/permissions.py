"""Workspace-registry permission levels: who holds which level on a model, or registry-wide.

Object ids are what `/api/2.0/mlflow/databricks/registered-models/get` answers as `id` (the
model's row id) and `root` for the whole registry. Setting levels on a model needs CAN MANAGE
on it; registry-wide levels are for metastore admins.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.domain.access import Level
from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.domain.numbers import INT32_MAX, ascii_int
from modelyard.domain.principals import ALL_USERS, Kind
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

ROOT_ID = "root"


@dataclass(frozen=True, slots=True)
class Grant:
    level: Level
    inherited: bool


@dataclass(frozen=True, slots=True)
class Entry:
    principal: str
    kind: Kind
    display_name: str
    grants: tuple[Grant, ...]


def _not_found(object_id: str) -> NotFound:
    return NotFound(f"Registered model with id {object_id} does not exist.")


class WorkspacePermissionService:
    def __init__(self, units: UnitOfWorkFactory) -> None:
        self.units = units

    def _model(self, uow: UnitOfWork, actor: Actor, object_id: str, needed: Level,
               action: str) -> tuple[int, str]:
        """The model row id (0 for root) and its name, once the caller is allowed."""
        if object_id == ROOT_ID:
            if needed > Level.CAN_READ:
                authorization.require_admin(actor, action, "registry", ROOT_ID)
            return authorization.ROOT, ROOT_ID
        model_id = ascii_int(object_id)
        if model_id is None or not 0 <= model_id <= INT32_MAX:  # what the id column holds
            raise _not_found(object_id)
        name = uow.registry().model_name_by_id(model_id)
        if name is None:
            raise _not_found(object_id)
        try:
            authorization.require_workspace_model(uow.conn, actor, name, needed, action)
        except NotFound as error:
            raise authorization.hide(_not_found(object_id), action, "registered_model",
                                     name) from error
        return model_id, name

    def get(self, actor: Actor, object_id: str) -> list[Entry]:
        with self.units.read(actor) as uow:
            model_id, _ = self._model(uow, actor, object_id, Level.CAN_READ, "permissions.get")
            return self._entries(uow, model_id)

    def change(self, actor: Actor, object_id: str, acl: list[tuple[str, Level]],
               replace: bool) -> list[Entry]:
        """`replace`: the list becomes the model's whole direct ACL (PUT); otherwise it is
        merged in, raising levels or setting them anew (PATCH)."""
        action = "permissions.set" if replace else "permissions.update"
        with self.units.write(actor) as uow:
            model_id, name = self._model(uow, actor, object_id, Level.CAN_MANAGE, action)
            repo = uow.identity
            for principal, _ in acl:
                if principal != ALL_USERS and repo.principal_by_name(principal) is None:
                    raise InvalidArgument(f"Principal {principal!r} does not exist.")
            before = {p: Level(lv).name for m, p, lv in repo.workspace_levels([model_id])
                      if m == model_id}
            if replace:
                repo.clear_workspace_levels(model_id)
            for principal, level in acl:
                repo.set_workspace_level(model_id, principal, int(level))
            after = {p: Level(lv).name for m, p, lv in repo.workspace_levels([model_id])
                     if m == model_id}
            uow.record(action, "registered_model" if model_id else "registry", name,
                       before=before, after=after)
            return self._entries(uow, model_id)

    def _entries(self, uow: UnitOfWork, model_id: int) -> list[Entry]:
        repo = uow.identity
        grants: dict[str, list[Grant]] = {}
        if model_id:
            creator = uow.registry().model_creator(model_id)
            if creator:
                grants.setdefault(creator, []).append(Grant(Level.CAN_MANAGE, False))
        ids = [model_id] if not model_id else [model_id, authorization.ROOT]
        for owner_id, principal, level in repo.workspace_levels(ids):
            grants.setdefault(principal, []).append(
                Grant(Level(level), inherited=bool(model_id) and owner_id == authorization.ROOT))
        entries = []
        for principal, held in sorted(grants.items()):
            found = repo.principal_by_name(principal)
            kind = found.kind if found else (Kind.GROUP if principal == ALL_USERS else Kind.USER)
            entries.append(Entry(principal, kind, found.display_name if found else principal,
                                 tuple(held)))
        return entries
