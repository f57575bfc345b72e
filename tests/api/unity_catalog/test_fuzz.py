"""Whatever a client sends, the UC API answers in UC's envelope and never with a 5xx."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=10), children, max_size=3),
    max_leaves=6)
_names = st.sampled_from(["main", "default", "m", "", "a.b", "x" * 300, "MAIN", " ", "ü"]) | \
    st.text(max_size=12)
_fields = ["name", "catalog_name", "schema_name", "model_name", "comment", "properties",
           "storage_root", "source", "run_id", "version", "version_num", "new_name", "owner",
           "tags", "operation", "max_results", "page_token", "force", "datasets",
           "model_version_dependencies", "run_workspace_id", "include_aliases"]
_bodies = st.dictionaries(st.sampled_from(_fields), _names | _json, max_size=6)
_requests = st.sampled_from([
    ("POST", "/catalogs"), ("GET", "/catalogs"), ("POST", "/schemas"), ("GET", "/schemas"),
    ("POST", "/models"), ("GET", "/models"), ("POST", "/models/versions"),
    ("POST", "/temporary-model-version-credentials"), ("PATCH", "/catalogs/{n}"),
    ("PATCH", "/schemas/main.{n}"), ("GET", "/models/main.default.{n}"),
    ("PATCH", "/models/main.default.{n}"), ("GET", "/models/main.default.{n}/versions"),
    ("GET", "/models/main.{n}.m/versions/{n}"), ("PATCH", "/models/{n}/versions/1/finalize"),
    ("PUT", "/models/main.default.{n}/aliases/{n}"), ("GET", "/models/{n}/aliases/x"),
    ("POST", "/entity-tag-assignments"), ("GET", "/entity-tag-assignments/{n}/{n}/tags"),
])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=_requests, name=_names,
       body=_bodies, raw=st.booleans())
def test_no_5xx_and_uc_envelope(uc: httpx.Client, request: tuple[str, str], name: str,
                                body: dict, raw: bool) -> None:  # type: ignore[type-arg]
    method, path = request
    path = path.replace("{n}", quote(name or "x", safe=""))
    if method == "GET":
        params = {k: str(v) for k, v in body.items()}
        response = uc.request(method, path, params=params)
    elif raw:
        response = uc.request(method, path, content=repr(body).encode())
    else:
        response = uc.request(method, path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.status_code != 405:
        error = response.json()
        assert isinstance(error.get("error_code"), str) and isinstance(error.get("message"), str)
