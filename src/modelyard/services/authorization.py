"""Who may do what: the one place the services ask before acting.

Workspace registry: permission levels per model and registry-wide (model id 0), the model's
creator holds CAN MANAGE, metastore admins hold everything.

A caller without even CAN READ cannot tell the model from a missing one: it gets the very error
a missing model gives. A caller who can see the model but lacks the level gets PERMISSION_DENIED.
Both refusals carry `denied`, so the unit of work records them in the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row

from modelyard.domain.access import (
    CATALOG,
    MODEL,
    SCHEMA,
    UC_RULES,
    VISIBLE,
    Level,
    Privilege,
    Securable,
    UcView,
    expand,
    missing_privilege,
    permits,
)
from modelyard.domain.catalog import CatalogNotFound, SchemaNotFound
from modelyard.domain.errors import ModelyardError, PermissionDenied, RegisteredModelNotFound
from modelyard.services.context import Actor
from modelyard.store import uc_visibility
from modelyard.store.identity import IdentityRepository
from modelyard.store.point_reads import decode_json
from modelyard.store.registry import RegistryRepository

ROOT = 0


def _denied(error: ModelyardError, action: str, object_type: str, name: str) -> ModelyardError:
    error.denied = (action, object_type, name)
    return error


def model_not_found(name: str) -> RegisteredModelNotFound:
    return RegisteredModelNotFound(f"Registered Model with name={name} not found")


def workspace_level(conn: Connection, actor: Actor, model_id: int, creator: str) -> Level:
    """The caller's level on one workspace model: the highest of its own, its groups', the
    registry-wide ones, and CAN MANAGE for the model's creator."""
    if actor.is_admin or creator == actor.name:
        return Level.CAN_MANAGE
    return Level(IdentityRepository(conn).best_workspace_level((ROOT, model_id),
                                                               actor.principals))


def require_workspace_model(conn: Connection, actor: Actor, name: str, needed: Level,
                            action: str) -> Level:
    """Raise unless the caller holds `needed` on the model; return the level it holds.

    A missing model raises the ordinary not-found error (no audit event: nothing was refused).
    """
    if actor.is_admin:
        return Level.CAN_MANAGE
    row = RegistryRepository(conn).model_ref(name)
    if row is None:
        raise model_not_found(name)
    level = workspace_level(conn, actor, row.id, row.user_id)
    if level < Level.CAN_READ:
        raise _denied(model_not_found(name), action, "registered_model", name)
    if level < needed:
        raise _denied(PermissionDenied(
            f"User '{actor.name}' does not have permission '{needed.name}' on registered "
            f"model '{name}' (it has '{level.name}')."), action, "registered_model", name)
    return level


def require_workspace_read_fast(access_rows: list[tuple[str, str | None, int | None]],
                                actor: Actor, name: str, action: str) -> ModelyardError | None:
    """The CAN READ check of the hot point reads, from `PointReads.workspace_access` rows;
    returns the refusal (for the caller to record and raise) or None when allowed."""
    if actor.is_admin:
        return None
    if not access_rows:
        return model_not_found(name)
    principals = actor.principals
    level = max((lv or 0 for _, who, lv in access_rows if who in principals), default=0)
    return workspace_read_refusal(actor, name, action, access_rows[0][0], level)


def workspace_read_refusal(actor: Actor, name: str, action: str, creator: str,
                           level: int) -> ModelyardError | None:
    """The CAN READ check of an existing workspace model from its creator and the highest
    level the caller's principals hold on it or on the registry root: the refusal, or None."""
    if actor.is_admin or creator == actor.name or level >= Level.CAN_READ:
        return None
    return _denied(model_not_found(name), action, "registered_model", name)


def readers_filter(actor: Actor, root_level: int) -> frozenset[str] | None:
    """None when the caller may read every workspace model (an admin, or `root_level`, the
    highest level its principals hold on the registry root, is at least CAN READ); otherwise
    the principal names whose levels (or authorship) make a model visible to it, for the
    search queries."""
    if actor.is_admin or root_level >= Level.CAN_READ:
        return None
    return actor.principals


def require_admin(actor: Actor, action: str, object_type: str, name: str) -> None:
    if not actor.is_admin:
        raise _denied(PermissionDenied(
            f"User '{actor.name}' is not a metastore admin; only a metastore admin may do "
            f"this ({action})."), action, object_type, name)


def deny(message: str, action: str, object_type: str, name: str) -> PermissionDenied:
    error = PermissionDenied(message)
    error.denied = (action, object_type, name)
    return error


def hide(error: ModelyardError, action: str, object_type: str, name: str) -> ModelyardError:
    """A refusal disguised as the given not-found error."""
    return _denied(error, action, object_type, name)


# ---- Unity Catalog ----------------------------------------------------------------------------
#
# Privileges are inherited downward (catalog → schema → model), never from the metastore;
# owning a catalog or schema counts as owning what is inside it; metastore admins may do
# everything. The rule for each operation is domain.access.UC_RULES. An object the caller may
# not even see raises the very error a missing one does.

_LEVEL_OF_OP = {"catalog": CATALOG, "schema": SCHEMA, "model": MODEL}
_PARENT_OF_CREATE = {"schema.create": CATALOG, "model.create": SCHEMA}
_SECURABLE = {CATALOG: Securable.CATALOG.value, SCHEMA: Securable.SCHEMA.value,
              MODEL: Securable.MODEL.value}
METASTORE = ("metastore", "metastore")


def _missing(level: str, parts: list[str], catalog_visible: bool) -> ModelyardError:
    if level == CATALOG or (level == SCHEMA and not catalog_visible):
        return CatalogNotFound(f"Catalog not found: {parts[0]}")
    if level == SCHEMA:
        return SchemaNotFound(f"Schema not found: {parts[0]}.{parts[1]}")
    return RegisteredModelNotFound(f"Registered model not found: {'.'.join(parts)}")


def _access_row(conn: Connection, parts: list[str], principals: frozenset[str]) -> Row[Any]:
    return uc_visibility.access_row(conn, parts, principals)


def _owners_of(row: Sequence[Any]) -> dict[str, str | None]:
    """The owner of each object on the path (None: the object does not exist), from a row of
    `uc_visibility.path_access`."""
    return {CATALOG: row[0], SCHEMA: row[1], MODEL: row[2]}


def uc_view(conn: Connection, actor: Actor, full_name: str) -> tuple[UcView, dict[str, bool]]:
    """The caller's standing along the path to `full_name`, and which objects exist."""
    parts = full_name.split(".") if full_name else []
    return uc_view_of(actor, parts, _access_row(conn, parts, actor.principals))


def uc_view_of(actor: Actor, parts: list[str],
               row: Sequence[Any]) -> tuple[UcView, dict[str, bool]]:
    """`uc_view` from a row of `uc_visibility.path_access` for the path `parts` and the
    actor's principals (read in a transaction, or as a point read)."""
    owners = _owners_of(row)
    by_name: dict[tuple[str, str], set[Privilege]] = {}
    for securable_type, name, privilege in decode_json(row[3]):
        try:
            by_name.setdefault((securable_type, name), set()).add(Privilege(privilege))
        except ValueError:
            continue
    owns: dict[str, bool] = {}
    privileges: dict[str, frozenset[Privilege]] = {}
    inherited: set[Privilege] = set()
    owned_above = False
    for depth, level in enumerate((CATALOG, SCHEMA, MODEL), start=1):
        owner = owners[level]
        owned_above = owned_above or (owner is not None and owner in actor.principals)
        owns[level] = owned_above
        if len(parts) >= depth:
            inherited |= by_name.get((_SECURABLE[level], ".".join(parts[:depth])), set())
        privileges[level] = expand(set(inherited))
    view = UcView(owns, privileges, expand(by_name.get(METASTORE, set())))
    return view, {level: owner is not None for level, owner in owners.items()}


def require_uc(conn: Connection, actor: Actor, op: str, full_name: str = "") -> None:
    """Raise unless the caller may do `op` (a key of UC_RULES) on `full_name` — for creates,
    the parent's full name. Missing objects are left to the caller's own not-found error."""
    if actor.is_admin:
        return
    view, exists = uc_view(conn, actor, full_name)
    check_uc(actor, op, full_name, view, exists)


def check_uc(actor: Actor, op: str, full_name: str, view: UcView,
             exists: dict[str, bool]) -> None:
    """`require_uc` on the caller's view of the path (`uc_view`, `uc_view_of`)."""
    parts = full_name.split(".") if full_name else []
    level = _PARENT_OF_CREATE.get(op) or (None if op == "catalog.create"
                                          else _LEVEL_OF_OP[op.split(".")[0]])
    if level is not None:
        if not exists[level]:
            return
        if not permits(UC_RULES[VISIBLE[level]], view):
            catalog_visible = permits(UC_RULES[VISIBLE[CATALOG]], view)
            raise _denied(_missing(level, parts, catalog_visible), op, _SECURABLE[level],
                          full_name)
    if not permits(UC_RULES[op], view):
        raise _denied(PermissionDenied(missing_privilege(UC_RULES[op], view, parts)), op,
                      _SECURABLE.get(level or "", "metastore"), full_name or "metastore")


def uc_readers(actor: Actor) -> frozenset[str] | None:
    """For the list queries (store/uc_visibility.py): None when the caller sees every object,
    else the principal names whose ownership and grants decide what it sees."""
    return None if actor.is_admin else actor.principals


def uc_may(conn: Connection, actor: Actor, op: str, full_name: str) -> bool:
    if actor.is_admin:
        return True
    return permits(UC_RULES[op], uc_view(conn, actor, full_name)[0])
