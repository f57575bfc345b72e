"""The registry's search language: parsing filters and order_by clauses.

A filter is parsed by a real grammar (`filter_grammar.lark`, LALR; `filter_parser`) into
`Clause` records, then
checked against what the search allows (keys, operators, value types). Translating clauses to
SQL is the store's job; nothing here evaluates a filter over rows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from modelyard.domain.errors import InvalidFilter
from modelyard.domain.numbers import INT64_MAX, ascii_int

PROMPT_TAG = "mlflow.prompt.is_prompt"


class Op(StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"


Scalar = str | int
Value = Scalar | tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Clause:
    """One comparison of a filter: `kind` is attribute or tag; `key` is the bare key."""

    kind: Literal["attribute", "tag"]
    key: str
    op: Op
    value: Value


#: The clause that leaves prompts out of a search (a missing marker counts as 'false').
NOT_A_PROMPT = Clause("tag", PROMPT_TAG, Op.NE, "true")
ONLY_PROMPTS = Clause("tag", PROMPT_TAG, Op.EQ, "true")


@dataclass(frozen=True, slots=True)
class Number:
    text: str


@dataclass(frozen=True, slots=True)
class Identifier:
    prefix: str | None
    key: str
    quoted: bool


_ATTRIBUTE_PREFIXES = frozenset({"attribute", "attributes", "attr"})
_TAG_PREFIXES = frozenset({"tag", "tags"})


# Clients repeat the same few filters; parsing one with Lark costs ~0.1 ms. Errors are not cached.
@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> tuple[tuple[Identifier, Op, object], ...]:
    # Lark is imported by the first filter parsed, not by every server's start (90 ms).
    from modelyard.domain.filter_parser import parse_comparisons

    return parse_comparisons(text)


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """What one search accepts: attribute keys with their operators, and numeric keys."""

    attributes: Mapping[str, frozenset[Op]]
    numeric: frozenset[str] = frozenset()
    tag_ops: frozenset[Op] = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE})


_STRING_OPS = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE})
_STRING_LIST_OPS = _STRING_OPS | {Op.IN, Op.NOT_IN}
_NUMERIC_OPS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})

MODEL_FILTER = FilterSpec(attributes={"name": _STRING_LIST_OPS})
VERSION_FILTER = FilterSpec(
    attributes={"name": _STRING_LIST_OPS, "run_id": _STRING_LIST_OPS,
                "source_path": _STRING_OPS, "version_number": _NUMERIC_OPS},
    numeric=frozenset({"version_number"}),
)


def _scalar_for(spec: FilterSpec, key: str, raw: object) -> Scalar:
    if key in spec.numeric:
        text = raw.text if isinstance(raw, Number) else str(raw)
        number = ascii_int(text)
        if number is None:
            raise InvalidFilter(
                f"Invalid value for numeric attribute '{key}': {text}. Expected an integer.")
        if not -INT64_MAX <= number <= INT64_MAX:
            raise InvalidFilter(f"Invalid value for numeric attribute '{key}': {text} is out of "
                                f"range (at most {INT64_MAX}).")
        return number
    if isinstance(raw, Number):
        raise InvalidFilter(
            f"Parameter value is either not quoted or unidentified quote types used for string "
            f"value {raw.text}. Use either single or double quotes."
        )
    return str(raw)


def _check_op(allowed: Iterable[Op], op: Op, what: str) -> None:
    if op not in allowed:
        names = ", ".join(sorted(o.value for o in allowed))
        raise InvalidFilter(f"Invalid comparator '{op.value}' for {what}. Allowed: {names}.")


def parse_filter(text: str | None, spec: FilterSpec) -> list[Clause]:
    """Parse and check a filter string; an empty filter means no clause."""
    if text is None or not text.strip():
        return []
    clauses = []
    for ident, op, raw in _parse(text):
        prefix = ident.prefix.lower() if ident.prefix else None
        if prefix in _TAG_PREFIXES:
            if not ident.key:
                raise InvalidFilter(f"Invalid filter {text!r}: a tag key cannot be empty.")
            _check_op(spec.tag_ops, op, f"tag '{ident.key}'")
            if isinstance(raw, tuple):
                raise InvalidFilter(f"Tags do not support comparison with a list: '{ident.key}'.")
            clauses.append(Clause("tag", ident.key, op, _scalar_for(spec, "", raw)))
            continue
        valid = "', '".join(sorted(spec.attributes))
        if prefix is not None and prefix not in _ATTRIBUTE_PREFIXES:
            raise InvalidFilter(
                f"Invalid entity type '{ident.prefix}' in filter {text!r}. "
                "Valid prefixes are 'tag', 'tags' and 'attribute'."
            )
        key = ident.key
        if (ident.quoted and prefix is None) or key not in spec.attributes:
            shown = f"`{key}`" if ident.quoted else key
            raise InvalidFilter(
                f"Invalid attribute key '{shown}' specified. Valid keys are '{valid}'."
            )
        _check_op(spec.attributes[key], op, f"attribute '{key}'")
        if op in (Op.IN, Op.NOT_IN):
            if not isinstance(raw, tuple):
                raise InvalidFilter(f"'{op.value}' needs a parenthesised list of values.")
            values = tuple(_scalar_for(spec, key, v) for v in raw)
            clauses.append(Clause("attribute", key, op, values))
        else:
            clauses.append(Clause("attribute", key, op, _scalar_for(spec, key, raw)))
    return clauses


def mentions_tag(clauses: Iterable[Clause], key: str) -> bool:
    return any(c.kind == "tag" and c.key == key for c in clauses)


def missing_tag_matches(clause: Clause) -> bool:
    """Whether a model without the tag satisfies the clause.

    Only the prompt marker has a default: a model without `mlflow.prompt.is_prompt` is not a
    prompt, so it counts as 'false' (it matches `!= 'true'` and `= 'false'`).
    """
    if clause.kind != "tag" or clause.key != PROMPT_TAG:
        return False
    value = str(clause.value)
    if clause.op is Op.EQ:
        return value == "false"
    if clause.op is Op.NE:
        return value != "false"
    return False


# ---- order_by -------------------------------------------------------------------------------

OrderKey = tuple[str, bool]  # (field, descending)

MODEL_ORDER_FIELDS = {"name": "name", "timestamp": "last_updated_timestamp",
                      "last_updated_timestamp": "last_updated_timestamp"}
VERSION_ORDER_FIELDS = {"name": "name", "version_number": "version_number",
                        "creation_timestamp": "creation_timestamp",
                        "last_updated_timestamp": "last_updated_timestamp"}
MODEL_DEFAULT_ORDER: tuple[OrderKey, ...] = (("name", False),)
#: MLflow's SQL store (`_parse_search_model_versions_order_by`): without an order_by, newest
#: change first; after any order_by, ties go by name ascending, then version descending.
VERSION_DEFAULT_ORDER: tuple[OrderKey, ...] = (
    ("last_updated_timestamp", True), ("name", False), ("version_number", True))
VERSION_TIE_BREAK: tuple[OrderKey, ...] = (("name", False), ("version_number", True))


def parse_order_by(
    clauses: Iterable[str] | None, fields: Mapping[str, str], tie_break: tuple[OrderKey, ...],
    default: tuple[OrderKey, ...] | None = None,
) -> list[OrderKey]:
    """Parse `"<key> [ASC|DESC]"` clauses, then append the tie-break keys not yet used;
    without clauses, `default` (when given) is the order."""
    clauses = list(clauses or ())
    if not clauses and default is not None:
        return list(default)
    order: list[OrderKey] = []
    seen: set[str] = set()
    for clause in clauses or ():
        parts = clause.split()
        if not parts or len(parts) > 2:
            raise InvalidFilter(f"Invalid order_by clause '{clause}'.")
        key = parts[0]
        if key.startswith("attribute."):
            key = key[len("attribute."):]
        direction = parts[1].upper() if len(parts) == 2 else "ASC"
        if key not in fields:
            valid = "', '".join(sorted(fields))
            raise InvalidFilter(f"Invalid order by key '{parts[0]}' specified. "
                                f"Valid keys are '{valid}'.")
        if direction not in ("ASC", "DESC"):
            raise InvalidFilter(f"Invalid order_by direction '{parts[1]}' in '{clause}'; "
                                "use ASC or DESC.")
        field_name = fields[key]
        if field_name in seen:
            raise InvalidFilter(f"`order_by` contains duplicate fields: {clause}")
        seen.add(field_name)
        order.append((field_name, direction == "DESC"))
    order.extend(key for key in tie_break if key[0] not in seen)
    return order
