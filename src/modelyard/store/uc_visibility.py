"""Which Unity Catalog objects a caller may see, as SQL conditions for the list queries.

The same rules as domain.access (UC_RULES[VISIBLE[...]]), which services/authorization.py
applies to one object at a time, written as WHERE conditions so that a list query returns only
visible rows: pages are full and their offsets count visible rows only. A grant is inherited
downward (catalog → schema → model); owning a catalog or schema counts as owning what is inside;
ALL PRIVILEGES stands for every privilege but MANAGE. tests/api/identity/test_uc_lists.py checks
the two agree over HTTP (a listed object is one GET answers, and the reverse).

Conditions expect `uc_catalogs` (and `uc_schemas`, `registered_models`) in the FROM clause.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_

from modelyard.domain.access import ALL_PRIVILEGES_COVERS, Privilege, Securable
from modelyard.store.tables import registered_models, uc_catalogs, uc_grants, uc_schemas

cat, sch, rm, ug = uc_catalogs, uc_schemas, registered_models, uc_grants
_P = Privilege


def _catalog_name() -> tuple[str, Any]:
    return Securable.CATALOG.value, cat.c.name


def _schema_name() -> tuple[str, Any]:
    return Securable.SCHEMA.value, cat.c.name + literal(".") + sch.c.name


def _model_name() -> tuple[str, Any]:
    return Securable.MODEL.value, rm.c.name


def _granted(principals: list[str], privileges: Iterable[Privilege],
             securables: Iterable[tuple[str, Any]]) -> Any:
    """One of `principals` holds one of `privileges` (or ALL PRIVILEGES, where it covers them)
    on one of `securables`."""
    wanted = set(privileges)
    values = sorted(p.value for p in wanted)
    if wanted & ALL_PRIVILEGES_COVERS:
        values.append(_P.ALL_PRIVILEGES.value)
    on_any = or_(*(and_(ug.c.securable_type == kind, ug.c.securable_name == name)
                   for kind, name in securables))
    return exists().where(ug.c.principal.in_(principals), ug.c.privilege.in_(values), on_any)


def _uses_catalog(principals: list[str]) -> Any:
    return or_(cat.c.owner.in_(principals),
               _granted(principals, [_P.USE_CATALOG], [_catalog_name()]))


def _owns_schema(principals: list[str]) -> Any:
    return or_(cat.c.owner.in_(principals), sch.c.owner.in_(principals))


def _uses_schema(principals: list[str]) -> Any:
    return and_(_uses_catalog(principals),
                or_(_owns_schema(principals),
                    _granted(principals, [_P.USE_SCHEMA], [_catalog_name(), _schema_name()])))


def catalog_visible(readers: frozenset[str]) -> Any:
    """catalog.read: USE CATALOG (or owning it), or BROWSE."""
    principals = sorted(readers)
    return or_(_uses_catalog(principals),
               _granted(principals, [_P.BROWSE], [_catalog_name()]))


def schema_visible(readers: frozenset[str]) -> Any:
    """schema.read: USE CATALOG and USE SCHEMA (or owning them), or BROWSE."""
    principals = sorted(readers)
    return or_(_uses_schema(principals),
               _granted(principals, [_P.BROWSE], [_catalog_name(), _schema_name()]))


def model_visible(readers: frozenset[str]) -> Any:
    """model.read: BROWSE, or using its schema and owning it or holding a privilege on it."""
    principals = sorted(readers)
    path = [_catalog_name(), _schema_name(), _model_name()]
    # The model's owner, else its creator (services/authorization._owners does the same).
    owner = func.coalesce(func.nullif(rm.c.owner, ""), rm.c.user_id)
    return or_(
        _granted(principals, [_P.BROWSE], path),
        and_(_uses_schema(principals),
             or_(_owns_schema(principals), owner.in_(principals),
                 _granted(principals, [_P.EXECUTE, _P.MANAGE, _P.APPLY_TAG,
                                       _P.CREATE_MODEL_VERSION], path))))
