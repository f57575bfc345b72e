"""Translate parsed filter clauses (domain.filters) into SQL expressions.

Every clause becomes an indexed predicate: attribute comparisons on columns, tag comparisons as
EXISTS sub-queries keyed by (owner id, tag key). Nothing is evaluated in Python.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, Table, and_, exists, not_, or_, select

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


def clauses_to_sql(
    clauses: list[Clause],
    attributes: Mapping[str, ColumnElement],
    tags: Table,
    tag_owner: str,
    owner_id: ColumnElement,
) -> list[ColumnElement[bool]]:
    """SQL conditions for `clauses`; `tags.c[tag_owner]` references `owner_id`."""
    conditions: list[ColumnElement[bool]] = []
    for clause in clauses:
        if clause.kind == "attribute":
            conditions.append(_compare(attributes[clause.key], clause.op, clause.value))
            continue
        owner = tags.c[tag_owner] == owner_id
        match = exists(select(1).select_from(tags).where(
            and_(owner, tags.c.key == clause.key, _compare(tags.c.value, clause.op, clause.value))
        ))
        if missing_tag_matches(clause):
            absent = not_(exists(select(1).select_from(tags).where(
                and_(owner, tags.c.key == clause.key))))
            conditions.append(or_(match, absent))
        else:
            conditions.append(match)
    return conditions
