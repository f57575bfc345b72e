"""Every route of the application, fed hostile path, query and body values: never a 5xx.

The routes are read from the application itself, so a new endpoint is fuzzed without being
listed here. The values are the classes issue 15 found as 500s: integers past 32 and 64 bits,
non-ASCII digits, NUL characters, long strings, and JSON of unexpected types and shapes.
Bounded to a few seconds per engine: the examples are few, each one request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from modelyard.app import routes
from tests.support import http_clients
from tests.support.server import ServerProcess

#: Never a real object of another test: no small positive ids, no "main".
_HOSTILE_TEXT = ["", " ", "0", "-1", "2147483648", "9223372036854775808",
                 "99999999999999999999999", "-99999999999999999999999", "\u00b2", "\u0661\u0662",
                 "\U0001d7d9", "1e400", "NaN", "\x00", "a\x00b", "%00", "x" * 5000, "../..",
                 "a/b", ".", "\u00fc", "\ud7ff", "true", "null", "[]", "{}", "'", '"', "\\",
                 # page tokens (base64 of {"offset": N}) past 2^63 and 2^64
                 "eyJvZmZzZXQiOiA5MjIzMzcyMDM2ODU0Nzc1ODA4fQ==",
                 "eyJvZmZzZXQiOiAxODQ0Njc0NDA3MzcwOTU1MTYxNn0="]
_text = st.sampled_from(_HOSTILE_TEXT) | st.text(max_size=20)
_ints = st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]) | \
    st.integers(-(2**70), 2**70)
_scalars = (st.none() | st.booleans() | _ints | _text
            | st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(_scalars, lambda children: st.lists(children, max_size=3) |
                     st.dictionaries(_text, children, max_size=3), max_leaves=8)
#: Field names the surfaces read (query strings and JSON bodies).
_FIELDS = ["name", "version", "new_name", "description", "comment", "key", "value", "tags",
           "alias", "stage", "filter", "order_by", "page_token", "max_results", "source",
           "run_id", "catalog_name", "schema_name", "full_name", "properties", "storage_root",
           "id", "userName", "displayName", "members", "token_id", "lifetime_seconds", "path",
           "since", "until", "actor", "action", "object_type", "object_name", "events",
           "model_name", "http_url_spec", "status", "changes", "principal",
           "access_control_list", "permission_level", "page", "q", "sort", "tab", "next",
           "archive_existing_versions", "force", "operation", "entity_type", "entity_name",
           "tag_key", "tag_value", "max_results", "include_aliases", "run_workspace_id"]
_bodies = st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=5) | _json


def _routes() -> list[tuple[str, str]]:
    found = []
    for route in routes():
        if not isinstance(route, Route) or route.path == "/health":
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((method, route.path))
    return found


ROUTES = _routes()
#: Long-lived answers (server-sent events): read up to the status line only.
_STREAMS = {path for _, path in ROUTES if path.endswith("/events/stream")}


def _fill(path: str, values: list[str]) -> str:
    """The route's path with each {param} replaced by a hostile value, percent-encoded."""
    parts, index = [], 0
    for piece in path.split("{"):
        if "}" in piece:
            _, _, rest = piece.partition("}")
            parts.append(quote(values[index % len(values)], safe="") + rest)
            index += 1
        else:
            parts.append(piece)
    return "".join(parts)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> httpx.Client:
    with http_clients.Client(base_url=server.url, timeout=30,
                             headers={"Origin": server.url}) as http:
        yield http  # type: ignore[misc]


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), path_values=st.lists(_text, min_size=1, max_size=4),
       query=st.dictionaries(st.sampled_from(_FIELDS), _text, max_size=4), body=_bodies,
       as_form=st.booleans())
def test_no_route_answers_5xx(client: httpx.Client, route: tuple[str, str],
                              path_values: list[str], query: dict[str, str], body: Any,
                              as_form: bool) -> None:
    method, template = route
    path = _fill(template, path_values)
    if template in _STREAMS:
        # A stream that opens never ends: its status is all there is to check.
        with client.stream(method, path, params=query) as opened:
            status = opened.status_code
        assert status < 500, (method, path, query)
        return
    if method == "GET":
        response = client.get(path, params=query)
    elif as_form and isinstance(body, dict):
        form = {str(k): str(v) for k, v in body.items()}
        response = client.request(method, path, params=query, data=form)
    else:
        response = client.request(method, path, params=query, json=body)
    assert response.status_code < 500, (method, path, query, body, response.text[:500])
