"""Rules for names users choose."""

from __future__ import annotations

import pytest

from modelyard.domain.errors import InvalidArgument
from modelyard.domain.names import (
    parse_version,
    validate_alias_name,
    validate_model_name,
    validate_tag,
)
from modelyard.domain.paging import decode_page_token, encode_page_token
from modelyard.domain.stages import Stage, parse_stage


@pytest.mark.parametrize("alias", ["latest", "Latest", "v1", "V22", "", "a b", "x" * 256, "é!"])
def test_refused_aliases(alias: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_alias_name(alias)


@pytest.mark.parametrize("alias", ["champion", "v1a", "blue-green_2", "vv1"])
def test_accepted_aliases(alias: str) -> None:
    assert validate_alias_name(alias) == alias


@pytest.mark.parametrize("name", ["", " ", "a/b", "a:b", "x" * 257, "a\nb"])
def test_refused_model_names(name: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_model_name(name)


def test_versions_and_stages() -> None:
    assert parse_version("7") == parse_version(7) == 7
    for bad in ("abc", "1.5", "", "0", -1, True, None, "٣"):
        with pytest.raises(InvalidArgument):
            parse_version(bad)
    assert parse_stage("production") is Stage.PRODUCTION
    with pytest.raises(InvalidArgument, match="Invalid Model Version stage"):
        parse_stage("Bogus")


def test_tags_and_tokens() -> None:
    assert validate_tag("mlflow.prompt.is_prompt", None) == ("mlflow.prompt.is_prompt", "")
    for key in ("", "../x", "/abs", "a\tb", "k" * 251):
        with pytest.raises(InvalidArgument):
            validate_tag(key, "v")
    assert decode_page_token(encode_page_token(40)) == 40
    assert decode_page_token(None) == 0
    for token in ("%%%", "e30", encode_page_token(-1)):
        with pytest.raises(InvalidArgument):
            decode_page_token(token)
