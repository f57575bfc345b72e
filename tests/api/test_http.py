"""Reading JSON bodies (api/http.py): nesting is bounded at orjson's speed, nothing else is
refused, and syntax errors say where they are in the body as sent."""

from __future__ import annotations

import pytest

from modelyard.api.http import MAX_JSON_DEPTH, BodyError, _json_object


def _nested(depth: int) -> bytes:
    """An object whose value nests `depth` levels counting the object itself."""
    return b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused() -> None:
    value = _json_object(_nested(MAX_JSON_DEPTH))
    for _ in range(MAX_JSON_DEPTH - 2):
        value = value["a"] if isinstance(value, dict) else value[0]
    assert value == [[]]
    for depth in (MAX_JSON_DEPTH + 1, 1024, 1025, 100_000):
        with pytest.raises(BodyError, match="more than 64 levels deep"):
            _json_object(_nested(depth))


def test_many_brackets_that_do_not_nest_are_fine() -> None:
    wide = b'{"a": [' + b",".join([b'{"k": [1]}'] * 1000) + b"]}"
    assert len(_json_object(wide)["a"]) == 1000
    in_text = b'{"comment": "' + b"[{" * 500 + b'"}'
    assert _json_object(in_text) == {"comment": "[{" * 500}


def test_syntax_errors_point_into_the_body_as_sent() -> None:
    broken = b'{"a": [' + b"[]," * 100 + b"x]}"
    with pytest.raises(BodyError, match=r"Malformed JSON .*\(char 307\)"):
        _json_object(broken)
    with pytest.raises(BodyError, match="must be a JSON object"):
        _json_object(b"[" + b"[]," * 100 + b"[]]")
    assert _json_object(b"  \n") == {}
