"""Translate parsed filter clauses (domain.filters) into SQL expressions.

Every clause becomes an indexed predicate: attribute comparisons on columns, tag comparisons as
sub-queries on the (key, value, owner) index (or EXISTS keyed by (owner id, tag key) when a
missing tag matches too). Nothing is evaluated in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, not_, or_, select

from modelyard.domain.filters import Clause, Op, missing_tag_matches


def _compare(column: ColumnElement, op: Op, value: object) -> ColumnElement[bool]:
    if op is Op.EQ:
        return column == value
    if op is Op.NE:
        return column != value
    if op is Op.LT:
        return column < value
    if op is Op.LE:
        return column <= value
    if op is Op.GT:
        return column > value
    if op is Op.GE:
        return column >= value
    if op is Op.LIKE:
        return column.like(value)
    if op is Op.ILIKE:
        return column.ilike(value)
    if op is Op.IN:
        return column.in_(value)  # type: ignore[arg-type]
    if op is Op.NOT_IN:
        return column.not_in(value)  # type: ignore[arg-type]
    raise AssertionError(f"unhandled operator {op}")


def filter_shape(clauses: list[Clause]) -> tuple[Any, ...]:
    """What the SQL of `clauses_to_sql(..., params=…)` depends on: equal shapes give equal SQL
    text, so a compiled statement can be reused with other values."""
    return tuple((c.kind, c.key if c.kind == "attribute" else None, c.op,
                  len(c.value) if isinstance(c.value, tuple) else -1, missing_tag_matches(c))
                 for c in clauses)


def clauses_to_sql(
    clauses: list[Clause],
    attributes: Mapping[str, ColumnElement],
    tags: Table,
    tag_owner: str,
    owner_id: ColumnElement,
    params: dict[str, Any] | None = None,
) -> list[ColumnElement[bool]]:
    """SQL conditions for `clauses`; `tags.c[tag_owner]` references `owner_id`.

    With `params`, every value and tag key becomes a named bind parameter (`f0`, `f0_1`, `k0`…)
    whose value is put in `params`: the SQL then depends only on `filter_shape(clauses)`.
    """
    conditions: list[ColumnElement[bool]] = []
    for i, clause in enumerate(clauses):
        value: Any = clause.value
        key: Any = clause.key
        if params is not None:
            if isinstance(value, tuple):
                names = [f"f{i}_{j}" for j in range(len(value))]
                params.update(zip(names, value, strict=True))
                value = [bindparam(name) for name in names]
            else:
                params[f"f{i}"] = value
                value = bindparam(f"f{i}")
            if clause.kind == "tag":
                params[f"k{i}"] = key
                key = bindparam(f"k{i}")
        if clause.kind == "attribute":
            conditions.append(_compare(attributes[clause.key], clause.op, value))
            continue
        owner = tags.c[tag_owner] == owner_id
        value_matches = _compare(tags.c.value, clause.op, value)
        if missing_tag_matches(clause):
            match = exists(select(1).select_from(tags).where(
                and_(owner, tags.c.key == key, value_matches)))
            absent = not_(exists(select(1).select_from(tags).where(
                and_(owner, tags.c.key == key))))
            conditions.append(or_(match, absent))
        else:
            # `owner IN (owners of matching tags)`, not a correlated EXISTS: both planners can
            # then start from the (key, value, owner) index when the tag is selective, rather
            # than walk every owner in the requested order and probe its tags.
            conditions.append(owner_id.in_(select(tags.c[tag_owner]).where(
                tags.c.key == key, value_matches)))
    return conditions
