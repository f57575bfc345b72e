"""Unity Catalog naming rules: at most 255 characters, no period, space, slash or control
character; stored in lower case; full names have exactly two or three levels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.domain.catalog import (
    split_model_name,
    split_schema_name,
    validate_name,
    validate_properties,
)
from modelyard.domain.errors import InvalidArgument

_ALLOWED = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
                                 blacklist_characters="./\x85\u180e\u200b\ufeff"),
                   min_size=1, max_size=255)


@given(_ALLOWED)
def test_valid_names_are_lower_cased(name: str) -> None:
    assert validate_name(name) == name.lower()


@given(st.text(min_size=0, max_size=20), st.sampled_from([".", " ", "/", "\t", "\n", "\x00",
                                                          "\x7f"]))
def test_forbidden_characters_are_refused(prefix: str, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_name(prefix + bad)


def test_length_and_levels() -> None:
    assert validate_name("a" * 255) == "a" * 255
    with pytest.raises(InvalidArgument):
        validate_name("a" * 256)
    with pytest.raises(InvalidArgument):
        validate_name("")
    assert split_model_name("Main.Fraud.Detector") == ("main", "fraud", "detector")
    assert split_schema_name("main.default") == ("main", "default")
    for bad in ("a.b", "a.b.c.d", "a..c", ".b.c"):
        with pytest.raises(InvalidArgument):
            split_model_name(bad)
    with pytest.raises(InvalidArgument):
        split_schema_name("main")


def test_properties_must_be_strings() -> None:
    assert validate_properties({"a": "1"}) == {"a": "1"}
    for bad in ({"a": 1}, ["a"], "a=1"):
        with pytest.raises(InvalidArgument):
            validate_properties(bad)
