"""Odd input gets a 4xx in the surface's own format, on SQLite and PostgreSQL alike (issue 15).

Each case was a 500 on at least one engine: page tokens past 2^63 (OverflowError), non-ASCII
digits (int() reads '١٢' and isdigit() accepts '²'), numbers too big for their column, and NUL
characters, which PostgreSQL's text columns cannot hold while SQLite stores them.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.support import http_clients
from tests.support.server import ServerProcess

UC = "/api/2.1/unity-catalog"
MLFLOW = "/api/2.0/mlflow"
HUGE = "99999999999999999999999"


def token(offset: int) -> str:
    return base64.urlsafe_b64encode(b'{"offset": %d}' % offset).decode()


BIG = token(2**63)

# (method, path, JSON body or None). Every list and search endpoint, and the UI's ?page=.
PAGE_TOKEN_CASES = [
    ("GET", f"{MLFLOW}/registered-models/search?page_token={BIG}", None),
    ("GET", f"{MLFLOW}/model-versions/search?page_token={BIG}", None),
    ("GET", f"{MLFLOW}/unity-catalog/registered-models/search?page_token={BIG}", None),
    ("GET", f"{MLFLOW}/unity-catalog/model-versions/search?filter=name%3D%27main.default.odd%27"
            f"&page_token={BIG}", None),
    ("GET", f"{UC}/catalogs?page_token={BIG}", None),
    ("GET", f"{UC}/schemas?catalog_name=main&page_token={BIG}", None),
    ("GET", f"{UC}/models?page_token={BIG}", None),
    ("GET", f"{UC}/models?catalog_name=main&schema_name=default&page_token={BIG}", None),
    ("GET", f"{UC}/models/main.default.odd/versions?page_token={BIG}", None),
    ("GET", f"/api/modelyard/v1/audit?page_token={BIG}", None),
    ("GET", f"{MLFLOW}/registered-models/search?page_token={token(2**64 + 5)}", None),
    ("GET", f"/?page={BIG}", None),
    ("GET", f"/catalogs?page={BIG}", None),
    ("GET", f"/catalogs/main?page={BIG}", None),
    ("GET", f"/catalogs/main/default?page={BIG}", None),
]

NUMBER_CASES = [
    ("GET", f"{UC}/catalogs?max_results=%C2%B2", None),
    ("GET", f"{UC}/schemas?catalog_name=main&max_results=%C2%B2", None),
    ("GET", f"{UC}/models?max_results=%D9%A1%D9%A2", None),  # Arabic-Indic "12"
    ("GET", f"{MLFLOW}/registered-models/search?max_results=%D9%A1", None),
    ("GET", "/api/2.0/fs/directories/Models/main/default/odd/%C2%B2/", None),
    ("POST", "/api/2.0/fs/create-upload-url", {"path": "/Models/main/default/odd/²/MLmodel"}),
    ("POST", "/api/2.0/fs/create-download-url",
     {"path": "/Models/main/default/odd/\u0661/MLmodel"}),  # Arabic-Indic 1
    ("GET", "/api/2.0/preview/scim/v2/Users/99999999999999999999", None),
    ("GET", "/api/2.0/preview/scim/v2/Groups/9223372036854775808", None),
    ("GET", "/api/2.0/preview/scim/v2/Groups/%C2%B2", None),
    ("GET", "/api/2.0/permissions/registered-models/99999999999999999999", None),
    ("GET", "/api/2.0/permissions/registered-models/2147483648", None),
    ("GET", f"/api/modelyard/v1/audit?until={HUGE}", None),
    ("GET", f"/api/modelyard/v1/audit?since=-{HUGE}", None),
    ("GET", f"{MLFLOW}/model-versions/search?filter=version_number%20%3D%20{HUGE}", None),
    ("GET", f"{MLFLOW}/model-versions/get?name=odd&version=2147483648", None),
    ("GET", f"{MLFLOW}/model-versions/get?name=odd&version=%C2%B2", None),
    ("GET", f"{UC}/models/main.default.odd/versions/{HUGE}", None),
    ("PATCH", f"{MLFLOW}/comments/update", {"id": HUGE, "comment": "x"}),
    ("GET", f"{MLFLOW}/registered-models/search?max_results={HUGE}", None),
]

NUL_CASES = [
    # Unity Catalog: comments, properties, storage_root, permission principals, tags.
    ("POST", f"{UC}/catalogs", {"name": "nul-c", "comment": "a\x00b"}),
    ("POST", f"{UC}/catalogs", {"name": "nul-p", "properties": {"k": "a\x00b"}}),
    ("POST", f"{UC}/catalogs", {"name": "nul-k", "properties": {"k\x00": "v"}}),
    ("POST", f"{UC}/catalogs", {"name": "nul-s", "storage_root": "/tmp/a\x00b"}),
    ("PATCH", f"{UC}/catalogs/main", {"comment": "a\x00b"}),
    ("POST", f"{UC}/schemas", {"name": "nuls", "catalog_name": "main", "comment": "\x00"}),
    ("PATCH", f"{UC}/permissions/catalog/main",
     {"changes": [{"principal": "a\x00b", "add": ["USE_CATALOG"]}]}),
    ("GET", f"{UC}/catalogs/ma%00in", None),
    ("GET", f"{UC}/catalogs?page_token=%00", None),
    # MLflow, the workspace extras, Databricks UC, identity, audit.
    ("GET", f"{MLFLOW}/registered-models/get?name=a%00b", None),
    ("POST", f"{MLFLOW}/registered-models/create", {"name": "nul-m", "description": "\x00"}),
    ("POST", f"{MLFLOW}/comments/create", {"name": "odd", "version": "1", "comment": "\x00"}),
    ("POST", f"{MLFLOW}/unity-catalog/registered-models/create",
     {"name": "main.default.nul", "description": "\x00"}),
    ("POST", "/api/2.0/preview/scim/v2/Users", {"userName": "nul\x00user"}),
    ("POST", "/api/2.0/token/create", {"comment": "\x00"}),
    ("GET", "/api/modelyard/v1/audit?actor=%00", None),
    # The web UI's pages.
    ("GET", "/?q=%00", None),
    ("GET", "/models/%00", None),
    ("GET", "/catalogs/%00", None),
    ("GET", "/models/odd/versions/1?tab=%00", None),
]

ODD_CASES = PAGE_TOKEN_CASES + NUMBER_CASES + NUL_CASES


def check_envelope(path: str, response: httpx.Response) -> None:
    """A 4xx in the format of the surface the path belongs to."""
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:300])
    if path.startswith("/api/"):
        body = response.json()
        assert isinstance(body["error_code"], str) and body["message"], body
        if path.startswith(UC):
            assert body["details"][0]["reason"] == body["error_code"]
    else:
        assert response.headers["content-type"].startswith("text/html"), response.text[:200]


@pytest.fixture(scope="module")
def odd_objects(server: ServerProcess) -> ServerProcess:
    """A workspace model `odd` with a version and a UC model main.default.odd, once per engine."""
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        if http.get(f"{MLFLOW}/registered-models/get", params={"name": "odd"}).status_code == 404:
            assert http.post(f"{MLFLOW}/registered-models/create",
                             json={"name": "odd"}).status_code == 200
            assert http.post(f"{MLFLOW}/model-versions/create",
                             json={"name": "odd", "source": "s3://b/odd"}).status_code == 200
            assert http.post(f"{UC}/models", json={"name": "odd", "catalog_name": "main",
                                                   "schema_name": "default"}).status_code == 200
    return server


@pytest.mark.parametrize(("method", "path", "body"), ODD_CASES,
                         ids=[f"{m} {p[:70]}" for m, p, _ in ODD_CASES])
def test_odd_input_is_a_4xx(odd_objects: ServerProcess, method: str, path: str,
                            body: dict[str, Any] | None) -> None:
    # A fresh connection per request: an error must not depend on what came before.
    response = http_clients.request(method, odd_objects.url + path, json=body, timeout=30)
    check_envelope(path, response)


def test_nul_is_refused_before_anything_is_stored(odd_objects: ServerProcess) -> None:
    """SQLite could store a NUL, PostgreSQL cannot: both refuse it, and nothing is written."""
    with http_clients.Client(base_url=odd_objects.url, timeout=30) as http:
        response = http.post(f"{UC}/catalogs", json={"name": "nul-kept", "comment": "a\x00b"})
        assert response.status_code == 400
        assert response.json()["error_code"] == "INVALID_ARGUMENT"
        assert "Parameter 'comment' contains a NUL character" in response.json()["message"]
        assert http.get(f"{UC}/catalogs/nul-kept").status_code == 404
        # The six characters \u0000 are text, not a NUL.
        response = http.post(f"{UC}/catalogs", json={"name": "nul-text", "comment": "\\u0000"})
        assert response.status_code == 200, response.text
        assert response.json()["comment"] == "\\u0000"
        http.delete(f"{UC}/catalogs/nul-text")


WEB_FORMS = [
    ("/models/odd/description", {"description": "a\x00b"}),
    ("/models/odd/tag", {"key": "k", "value": "a\x00b"}),
    ("/models/odd/permission", {"principal": "x\x00", "level": "CAN_READ"}),
    ("/models/odd/versions/1/description", {"description": "\x00"}),
    ("/models/odd/versions/1/tag", {"key": "k\x00", "value": "v"}),
    ("/models/odd/versions/1/comment", {"comment": "\x00"}),
    ("/models/odd/versions/1/request", {"stage": "Staging", "comment": "\x00"}),
    ("/catalogs/main/default/odd/description", {"comment": "\x00"}),
    ("/catalogs/main/default/odd/tag", {"key": "k", "value": "\x00"}),
    ("/catalogs/main/default/odd/grant", {"principal": "a\x00", "privilege": "EXECUTE"}),
    ("/signin", {"token": "\x00", "next": "/"}),
    ("/signout", {"x": "\x00"}),
]


@pytest.mark.parametrize(("path", "fields"), WEB_FORMS, ids=[path for path, _ in WEB_FORMS])
def test_web_forms_refuse_nul(odd_objects: ServerProcess, path: str,
                              fields: dict[str, str]) -> None:
    response = http_clients.post(odd_objects.url + path, data=fields, timeout=30,
                                 headers={"Origin": odd_objects.url})
    assert response.status_code == 400, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert "NUL character" in response.text
