"""The MLflow dialect's query-string reader reads exactly what the standard library's does."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from modelyard.api.mlflow.params import _query_pairs

_queries = st.lists(st.sampled_from(["a", "name", "=", "&", "%", "2F", "%00", "+", " ", ".", ";",
                                     "é", "1", "&&", "=="]), max_size=14).map("".join)


@given(query=_queries)
def test_query_pairs_are_parse_qsl_with_blank_values(query: str) -> None:
    assert _query_pairs(query) == parse_qsl(query, keep_blank_values=True)
