"""Unity Catalog access rules as SQL conditions, for the list queries.

domain.access holds the rules as data (`UC_RULES`); services/authorization.py decides one
object at a time with `permits`, and `rule_condition` here turns the same rule into a WHERE
condition, so that a list query returns only the rows the caller may see: pages are full and
their offsets count visible rows only. `Owns(level)`: an owner column on the path down to that
level names one of the caller's principals; `Holds(level, …)`: a grant on the path down to that
level (inheritance), ALL PRIVILEGES counting where it covers the privilege.
tests/api/identity/test_uc_lists.py checks over HTTP that lists and GETs agree.

Conditions expect `uc_catalogs` (and `uc_schemas`, `registered_models`, down to the rule's
deepest level) in the FROM clause.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from modelyard.domain.access import (
    ALL_PRIVILEGES_COVERS,
    CATALOG,
    MODEL,
    SCHEMA,
    UC_RULES,
    VISIBLE,
    AnyOf,
    Holds,
    HoldsOnMetastore,
    Owns,
    Privilege,
    Rule,
    Securable,
)
from modelyard.store.database import json_names, names_param
from modelyard.store.tables import registered_models, uc_catalogs, uc_grants, uc_schemas

cat, sch, rm, ug = uc_catalogs, uc_schemas, registered_models, uc_grants
_LEVELS = (CATALOG, SCHEMA, MODEL)
#: The metastore's own grants (services/authorization.METASTORE).
_METASTORE = (Securable.METASTORE.value, literal("metastore"))


def _securables(level: str) -> list[tuple[str, Any]]:
    """(securable type, full-name expression) of each object from the catalog down to `level`."""
    path = [(Securable.CATALOG.value, cat.c.name),
            (Securable.SCHEMA.value, cat.c.name + literal(".") + sch.c.name),
            (Securable.MODEL.value, rm.c.name)]
    return path[:_LEVELS.index(level) + 1]


def _owners(level: str) -> list[Any]:
    """The owner columns from the catalog down to `level`. A model without an owner is owned
    by its creator (`path_access` below does the same)."""
    columns = [cat.c.owner, sch.c.owner, func.coalesce(func.nullif(rm.c.owner, ""), rm.c.user_id)]
    return columns[:_LEVELS.index(level) + 1]


def _granted(principals: list[str], privileges: tuple[Privilege, ...],
             securables: list[tuple[str, Any]]) -> Any:
    values = sorted({p.value for p in privileges})
    if set(privileges) & ALL_PRIVILEGES_COVERS:
        values.append(Privilege.ALL_PRIVILEGES.value)
    on_any = or_(*(and_(ug.c.securable_type == kind, ug.c.securable_name == name)
                   for kind, name in securables))
    return exists().where(ug.c.principal.in_(principals), ug.c.privilege.in_(values), on_any)


def rule_condition(rule: Rule, readers: frozenset[str]) -> Any:
    """`rule` as a SQL condition for a caller whose principals (name and groups) are
    `readers`."""
    principals = sorted(readers)

    def condition(part: Rule) -> Any:
        if isinstance(part, Owns):
            return or_(*(owner.in_(principals) for owner in _owners(part.level)))
        if isinstance(part, Holds):
            return _granted(principals, part.privileges, _securables(part.level))
        if isinstance(part, HoldsOnMetastore):
            return _granted(principals, (part.privilege,), [_METASTORE])
        if isinstance(part, AnyOf):
            return or_(*(condition(p) for p in part.rules))
        return and_(*(condition(p) for p in part.rules))

    return condition(rule)


def catalog_visible(readers: frozenset[str]) -> Any:
    return rule_condition(UC_RULES[VISIBLE[CATALOG]], readers)


def schema_visible(readers: frozenset[str]) -> Any:
    return rule_condition(UC_RULES[VISIBLE[SCHEMA]], readers)


def model_visible(readers: frozenset[str]) -> Any:
    return rule_condition(UC_RULES[VISIBLE[MODEL]], readers)


@functools.cache
def path_access(dialect: str) -> Select[Any]:
    """One statement, always one row: the owner of each object on a Unity Catalog path
    (`catalog`, `schema`, `model` columns; NULL: no such object, "" when it has no owner) and,
    as JSON [[securable type, name, privilege]…], the grants that the principals in the JSON
    array `principals` hold on the metastore and on each object of the path.

    services/authorization.py decides with it, in a transaction or as a point read; its
    parameters come from `path_access_params`.
    """
    principal_names = json_names(dialect, "principals")
    if dialect == "postgresql":
        grants = func.json_agg(func.json_build_array(ug.c.securable_type, ug.c.securable_name,
                                                     ug.c.privilege))
    else:
        grants = func.json_group_array(func.json_array(ug.c.securable_type,
                                                       ug.c.securable_name, ug.c.privilege))
    # Constants as SQL text, not bound parameters: the point reads bind only named ones.
    def text(value: str) -> Any:
        return literal_column(f"'{value}'")

    on_path = or_(*(and_(ug.c.securable_type == text(kind), ug.c.securable_name == name)
                    for kind, name in [(Securable.METASTORE.value, text("metastore")),
                                       (Securable.CATALOG.value, bindparam("catalog")),
                                       (Securable.SCHEMA.value, bindparam("schema_full_name")),
                                       (Securable.MODEL.value, bindparam("model"))]))
    in_catalog = cat.c.name == bindparam("catalog")
    schema = and_(sch.c.catalog_id == cat.c.id, sch.c.name == bindparam("schema"))
    return select(
        select(func.coalesce(cat.c.owner, text(""))).where(in_catalog)
        .scalar_subquery().label("catalog"),
        select(func.coalesce(sch.c.owner, text(""))).where(in_catalog, schema)
        .scalar_subquery().label("schema"),
        # A model without an owner is owned by its creator (as in `_owners` above).
        select(func.coalesce(func.nullif(rm.c.owner, text("")), rm.c.user_id, text("")))
        .where(in_catalog, schema, rm.c.schema_id == sch.c.id,
               rm.c.registry == bindparam("registry"), rm.c.name == bindparam("model"))
        .scalar_subquery().label("model"),
        select(grants).where(on_path, ug.c.principal.in_(principal_names))
        .scalar_subquery().label("grants"),
    )


def path_access_params(parts: list[str], principals: frozenset[str]) -> dict[str, str]:
    """`path_access`'s parameters for the path `parts` ([catalog[, schema[, model]]]); a
    level the path does not reach matches no object ("" is no valid name)."""
    padded = [*parts, "", "", ""]
    return {"registry": "uc", "catalog": padded[0], "schema": padded[1],
            "schema_full_name": ".".join(parts[:2]) if len(parts) >= 2 else "",
            "model": ".".join(parts[:3]) if len(parts) >= 3 else "",
            "principals": names_param(principals)}


def access_row(conn: Connection, parts: list[str], principals: frozenset[str]) -> Row[Any]:
    """`path_access`'s one row for the path `parts` and `principals`, in `conn`'s transaction."""
    return conn.execute(path_access(conn.dialect.name), path_access_params(parts, principals)).one()
