"""The filter parser on its own: what each string parses to, and which are refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.domain.errors import InvalidFilter
from modelyard.domain.filters import (
    MODEL_FILTER,
    MODEL_ORDER_FIELDS,
    VERSION_DEFAULT_ORDER,
    VERSION_FILTER,
    VERSION_ORDER_FIELDS,
    VERSION_TIE_BREAK,
    Clause,
    Op,
    missing_tag_matches,
    parse_filter,
    parse_order_by,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'a'", [Clause("attribute", "name", Op.EQ, "a")]),
        ('name != "a b"', [Clause("attribute", "name", Op.NE, "a b")]),
        ("name like 'a%'", [Clause("attribute", "name", Op.LIKE, "a%")]),
        ("name ILIKE 'A%'", [Clause("attribute", "name", Op.ILIKE, "A%")]),
        ("name in ('a', \"b\")", [Clause("attribute", "name", Op.IN, ("a", "b"))]),
        ("name NOT  IN ('a')", [Clause("attribute", "name", Op.NOT_IN, ("a",))]),
        ("tags.`a.b` = 'x'", [Clause("tag", "a.b", Op.EQ, "x")]),
        ("tag.team = 'x' and name = 'y'",
         [Clause("tag", "team", Op.EQ, "x"), Clause("attribute", "name", Op.EQ, "y")]),
        ("name = 'it''s'", [Clause("attribute", "name", Op.EQ, "it's")]),
        ("", []),
        ("   ", []),
    ],
)
def test_model_filters_parse(text: str, expected: list[Clause]) -> None:
    assert parse_filter(text, MODEL_FILTER) == expected


def test_version_number_is_an_integer() -> None:
    assert parse_filter("version_number >= 3", VERSION_FILTER) == [
        Clause("attribute", "version_number", Op.GE, 3)]
    with pytest.raises(InvalidFilter, match="numeric attribute"):
        parse_filter("version_number = 1.5", VERSION_FILTER)


@pytest.mark.parametrize(
    "text",
    ["name = 'a' OR name = 'b'", "(name = 'a')", "name", "name =", "= 'a'", "name = 'a' AND",
     "name LIKE 1", "run_id = 'x'", "tags.x IN ('a')", "`name` = 'a'", "foo.name = 'a'",
     "name = 'unterminated"],
)
def test_model_filters_refused(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_filter(text, MODEL_FILTER)


def test_prompt_marker_defaults_to_false() -> None:
    (ne_true,) = parse_filter("tags.`mlflow.prompt.is_prompt` != 'true'", MODEL_FILTER)
    (eq_true,) = parse_filter("tags.`mlflow.prompt.is_prompt` = 'true'", MODEL_FILTER)
    (other,) = parse_filter("tags.team != 'x'", MODEL_FILTER)
    assert missing_tag_matches(ne_true) and not missing_tag_matches(eq_true)
    assert not missing_tag_matches(other)


def test_order_by() -> None:
    # MLflow's SQL store: ties after an order_by go by name, then version descending; without
    # one, the newest change comes first.
    assert parse_order_by(["version_number ASC"], VERSION_ORDER_FIELDS, VERSION_TIE_BREAK,
                          VERSION_DEFAULT_ORDER) == [("version_number", False), ("name", False)]
    assert parse_order_by(["creation_timestamp"], VERSION_ORDER_FIELDS, VERSION_TIE_BREAK,
                          VERSION_DEFAULT_ORDER) == [("creation_timestamp", False),
                                                     ("name", False), ("version_number", True)]
    assert parse_order_by([], VERSION_ORDER_FIELDS, VERSION_TIE_BREAK,
                          VERSION_DEFAULT_ORDER) == list(VERSION_DEFAULT_ORDER)
    assert parse_order_by(None, MODEL_ORDER_FIELDS, (("name", False),)) == [("name", False)]
    with pytest.raises(InvalidFilter, match="duplicate"):
        parse_order_by(["timestamp", "last_updated_timestamp DESC"], MODEL_ORDER_FIELDS, ())


@given(st.text(max_size=80))
def test_parser_raises_only_invalid_filter(text: str) -> None:
    with contextlib.suppress(InvalidFilter):
        parse_filter(text, VERSION_FILTER)
