"""Translate parsed filter clauses (domain.filters) into SQL expressions.

Every clause becomes an indexed predicate: attribute comparisons on columns, tag comparisons as
sub-queries on the (key, value_head, …, owner) index (or EXISTS keyed by (owner id, tag key) when
a missing tag matches too). Nothing is evaluated in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    exists,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement as _Element
from sqlalchemy.types import Boolean

from modelyard.domain.filters import Clause, Op, missing_tag_matches
from modelyard.store.tables import TAG_VALUE_HEAD, tag_value_head


def like_prefix(pattern: object) -> str | None:
    """The literal prefix of a LIKE pattern of the form 'prefix%' (no other wildcard, no
    escape), when a byte-order range can stand for it; else None."""
    if not isinstance(pattern, str) or not pattern.endswith("%"):
        return None
    prefix = pattern[:-1]
    if not prefix or any(c in prefix for c in "%_\\") or ord(prefix[-1]) >= 0xD7FF:
        return None
    return prefix


def _prefix_end(prefix: str) -> str:
    """The least string (in code point, hence UTF-8 byte, order) above every `prefix…`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class _PrefixRange(_Element[bool]):
    """`column` is in [low, high) in byte order. PostgreSQL: the text_pattern_ops operators,
    which the (registry, name text_pattern_ops) index of revision 0001 serves. A LIKE with a
    bound pattern cannot use that index in the generic plan that PostgreSQL settles on for a
    prepared statement (psycopg prepares repeated ones), so `name LIKE 'm012%'` walked the
    models in name order until it found a page of matches (9.7 ms of PostgreSQL CPU at 100k
    models). SQLite uses its LIKE optimization and needs nothing: always true there."""

    inherit_cache = True
    type = Boolean()

    def __init__(self, column: ColumnElement, low: ColumnElement, high: ColumnElement) -> None:
        self.column, self.low, self.high = column, low, high


@compiles(_PrefixRange)
def _prefix_range_default(element: _PrefixRange, compiler: Any, **kw: Any) -> str:
    return "1 = 1"


@compiles(_PrefixRange, "postgresql")
def _prefix_range_postgresql(element: _PrefixRange, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return (f"({column} ~>=~ {compiler.process(element.low, **kw)} AND "
            f"{column} ~<~ {compiler.process(element.high, **kw)})")


class PatternOrder(_Element[Any]):
    """ORDER BY `column` in byte order, as the (registry, name text_pattern_ops) index lists it.

    PostgreSQL: `USING ~<~` (or `~>~`), so that a search with a name prefix (`_PrefixRange`)
    walks that index in order and stops at the end of the page; ordered by the column's
    collation it read every match and sorted them (1,000 models for `name LIKE 'm012%'` at 100k
    models: 1.7 ms of PostgreSQL CPU against 0.4 at 1k). In a database whose collation is C or
    C.UTF-8 the two orders are the same; in another one this search lists names in byte order,
    as SQLite always does. Elsewhere: ASC or DESC."""

    inherit_cache = True

    def __init__(self, column: ColumnElement, descending: bool) -> None:
        self.column, self.descending = column, descending


@compiles(PatternOrder)
def _pattern_order_default(element: PatternOrder, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} {'DESC' if element.descending else 'ASC'}"


@compiles(PatternOrder, "postgresql")
def _pattern_order_postgresql(element: PatternOrder, compiler: Any, **kw: Any) -> str:
    operator = "~>~" if element.descending else "~<~"
    return f"{compiler.process(element.column, **kw)} USING {operator}"


def has_name_prefix(clauses: list[Clause]) -> bool:
    """Whether a clause limits `name` to a prefix (`name LIKE 'abc%'`, see `_PrefixRange`)."""
    return any(c.kind == "attribute" and c.key == "name" and c.op is Op.LIKE
               and like_prefix(c.value) is not None for c in clauses)


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


def _is_prefix_match(clause: Clause) -> bool:
    return (clause.kind == "attribute" and clause.op is Op.LIKE
            and like_prefix(clause.value) is not None)


def _tag_equal_value(clause: Clause) -> str | None:
    """The value of a `tags.k = 'v'` clause that only a tag can satisfy, which the index head
    can find; else None."""
    if (clause.kind != "tag" or clause.op is not Op.EQ or not isinstance(clause.value, str)
            or missing_tag_matches(clause)):
        return None
    return clause.value


def _head_decides(value: str | None) -> bool:
    """Whether an equal head means an equal value: a value shorter than the head is whole in
    it."""
    return value is not None and len(value) < TAG_VALUE_HEAD


def ordering_tag_clause(clauses: list[Clause]) -> int | None:
    """The first `tags.k = 'v'` clause: an index lists its owners in name order (revision 0005),
    so a search ordered by name can read them in that order and stop at the page's end."""
    for i, clause in enumerate(clauses):
        if _tag_equal_value(clause) is not None:
            return i
    return None


def filter_shape(clauses: list[Clause]) -> tuple[Any, ...]:
    """What the SQL of `clauses_to_sql(..., params=…)` depends on: equal shapes give equal SQL
    text, so a compiled statement can be reused with other values."""
    return tuple((c.kind, c.key if c.kind == "attribute" else None, c.op,
                  len(c.value) if isinstance(c.value, tuple) else -1, missing_tag_matches(c),
                  _is_prefix_match(c), _head_decides(_tag_equal_value(c)))
                 for c in clauses)


def _tag_value_matches(tags: Any, clause: Clause, i: int, value: Any,
                       params: dict[str, Any]) -> ColumnElement[bool]:
    """`tags.value` satisfies clause `i`; for `=`, through the indexed `value_head` (bound as
    `h<i>`), comparing the whole value too unless the head holds all of it. `value` is the
    clause's value as SQL."""
    equal = _tag_equal_value(clause)
    if equal is None:
        return _compare(tags.c.value, clause.op, value)
    params[f"h{i}"] = tag_value_head(equal)
    head: Any = bindparam(f"h{i}")
    if _head_decides(equal):
        return tags.c.value_head == head
    return and_(tags.c.value_head == head, tags.c.value == value)


def clause_params(clauses: list[Clause], params: dict[str, Any]) -> None:
    """Put into `params` the values `clauses_to_sql` binds, without building its SQL: a search
    whose statement is already compiled for the filter's shape needs only these (building the
    expressions cost ~0.6 ms, most of a version search's CPU)."""
    for i, clause in enumerate(clauses):
        if isinstance(clause.value, tuple):
            params.update(zip([f"f{i}_{j}" for j in range(len(clause.value))], clause.value,
                              strict=True))
        else:
            params[f"f{i}"] = clause.value
        if clause.kind == "attribute":
            prefix = like_prefix(clause.value) if clause.op is Op.LIKE else None
            if prefix is not None:
                params[f"f{i}_low"], params[f"f{i}_high"] = prefix, _prefix_end(prefix)
            continue
        params[f"k{i}"] = clause.key
        equal = _tag_equal_value(clause)
        if equal is not None:
            params[f"h{i}"] = tag_value_head(equal)


def clauses_to_sql(
    clauses: list[Clause],
    attributes: Mapping[str, ColumnElement],
    tags: Table,
    tag_owner: str,
    owner_id: ColumnElement,
    params: dict[str, Any],
    driving: tuple[int, Any] | None = None,
) -> list[ColumnElement[bool]]:
    """SQL conditions for `clauses`; `tags.c[tag_owner]` references `owner_id`.

    Every value and tag key becomes a named bind parameter (`f0`, `f0_1`, `k0`…) whose value is
    put in `params` (the same values `clause_params` gives): the SQL then depends only on
    `filter_shape(clauses)`.
    With `driving` = (i, alias of `tags` joined to the owners), clause `i` (see
    `ordering_tag_clause`) is a condition on that alias's row instead of a sub-query.
    """
    conditions: list[ColumnElement[bool]] = []
    for i, clause in enumerate(clauses):
        value: Any
        if isinstance(clause.value, tuple):
            names = [f"f{i}_{j}" for j in range(len(clause.value))]
            params.update(zip(names, clause.value, strict=True))
            value = [bindparam(name) for name in names]
        else:
            params[f"f{i}"] = clause.value
            value = bindparam(f"f{i}")
        if clause.kind == "attribute":
            column = attributes[clause.key]
            conditions.append(_compare(column, clause.op, value))
            prefix = like_prefix(clause.value) if clause.op is Op.LIKE else None
            if prefix is not None:
                params[f"f{i}_low"], params[f"f{i}_high"] = prefix, _prefix_end(prefix)
                conditions.append(_PrefixRange(column, bindparam(f"f{i}_low"),
                                               bindparam(f"f{i}_high")))
            continue
        params[f"k{i}"] = clause.key
        key: Any = bindparam(f"k{i}")
        if driving is not None and driving[0] == i:
            joined = driving[1]
            conditions.append(and_(joined.c.key == key,
                                   _tag_value_matches(joined, clause, i, value, params)))
            continue
        owner = tags.c[tag_owner] == owner_id
        value_matches = _tag_value_matches(tags, clause, i, value, params)
        if missing_tag_matches(clause):
            match = exists(select(1).select_from(tags).where(
                and_(owner, tags.c.key == key, value_matches)))
            absent = not_(exists(select(1).select_from(tags).where(
                and_(owner, tags.c.key == key))))
            conditions.append(or_(match, absent))
        else:
            # `owner IN (owners of matching tags)`, not a correlated EXISTS: both planners can
            # then start from the (key, value_head, …) index when the tag is selective, rather
            # than walk every owner in the requested order and probe its tags.
            conditions.append(owner_id.in_(select(tags.c[tag_owner]).where(
                tags.c.key == key, value_matches)))
    return conditions
