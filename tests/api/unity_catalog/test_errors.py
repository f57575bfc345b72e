"""Unity Catalog's error envelope and statuses for what users get wrong."""

from __future__ import annotations

import httpx
import pytest

from tests.api.unity_catalog.conftest import local_path


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert body["message"]
    assert body["details"] == [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": code}]


def test_not_found(uc: httpx.Client, schema: str) -> None:
    _assert_error(uc.get("/catalogs/nope_nope"), 404, "CATALOG_NOT_FOUND")
    _assert_error(uc.get("/schemas/main.nope_nope"), 404, "SCHEMA_NOT_FOUND")
    _assert_error(uc.get(f"/models/{schema}.nope"), 404, "NOT_FOUND")
    _assert_error(uc.post("/models", json={"catalog_name": "main", "schema_name": "nope_nope",
                                           "name": "m"}), 404, "SCHEMA_NOT_FOUND")
    uc.post("/models", json={"catalog_name": "main", "schema_name": schema.split(".")[1],
                             "name": "m"})
    _assert_error(uc.get(f"/models/{schema}.m/versions/7"), 404, "NOT_FOUND")
    _assert_error(uc.get(f"/models/{schema}.m/aliases/champion"), 404, "NOT_FOUND")


def test_duplicates(uc: httpx.Client, schema: str) -> None:
    catalog_name, schema_name = schema.split(".")
    body = {"catalog_name": catalog_name, "schema_name": schema_name, "name": "dup"}
    assert uc.post("/models", json=body).status_code == 200
    _assert_error(uc.post("/models", json=body), 409, "ALREADY_EXISTS")
    # Names are case-insensitive: stored in lower case.
    _assert_error(uc.post("/models", json={**body, "name": "DUP"}), 409, "ALREADY_EXISTS")
    _assert_error(uc.post("/schemas", json={"catalog_name": "main", "name": schema_name}),
                  400, "SCHEMA_ALREADY_EXISTS")
    _assert_error(uc.post("/catalogs", json={"name": "main"}), 400, "CATALOG_ALREADY_EXISTS")


@pytest.mark.parametrize("bad", ["a.b", "with space", "sl/ash", "tab\tname", "x" * 256, ""])
def test_bad_names(uc: httpx.Client, schema: str, bad: str) -> None:
    catalog_name, schema_name = schema.split(".")
    _assert_error(uc.post("/catalogs", json={"name": bad}), 400, "INVALID_ARGUMENT")
    _assert_error(uc.post("/models", json={"catalog_name": catalog_name,
                                           "schema_name": schema_name, "name": bad}),
                  400, "INVALID_ARGUMENT")


def test_bad_requests(uc: httpx.Client, schema: str) -> None:
    catalog_name, schema_name = schema.split(".")
    _assert_error(uc.get("/models/only.two"), 400, "INVALID_ARGUMENT")
    _assert_error(uc.get("/models", params={"catalog_name": "main"}), 400, "INVALID_ARGUMENT")
    _assert_error(uc.get("/catalogs", params={"max_results": -1}), 400, "INVALID_ARGUMENT")
    _assert_error(uc.get("/catalogs", params={"page_token": "!!"}), 400, "INVALID_ARGUMENT")
    _assert_error(uc.post("/catalogs", content=b"{not json"), 400, "INVALID_ARGUMENT")
    _assert_error(uc.post("/catalogs", json={"name": "ok_name", "storage_root": "s3://b/p"}),
                  400, "INVALID_ARGUMENT")
    uc.post("/models", json={"catalog_name": catalog_name, "schema_name": schema_name,
                             "name": "m"})
    _assert_error(uc.patch(f"/models/{schema}.m", json={}), 400, "INVALID_ARGUMENT")
    _assert_error(uc.post("/models/versions", json={
        "catalog_name": catalog_name, "schema_name": schema_name, "model_name": "m"}),
        400, "INVALID_ARGUMENT")  # no source
    created = uc.post("/models/versions", json={
        "catalog_name": catalog_name, "schema_name": schema_name, "model_name": "m",
        "source": "runs:/r/m"}).json()
    # An alias only points at a READY version.
    _assert_error(uc.put(f"/models/{schema}.m/aliases/champion", json={"version_num": 1}),
                  400, "FAILED_PRECONDITION")
    _assert_error(uc.put(f"/models/{schema}.m/aliases/latest", json={"version_num": 1}),
                  400, "INVALID_ARGUMENT")
    _assert_error(uc.patch(f"/models/{schema}.m/versions/1/finalize",
                           json={"full_name": f"{schema}.other", "version": 1}),
                  400, "INVALID_ARGUMENT")
    # Nothing uploaded (say, a file:// client on another host): refused, still PENDING.
    _assert_error(uc.patch(f"/models/{schema}.m/versions/1/finalize"), 400,
                  "FAILED_PRECONDITION")
    assert uc.get(f"/models/{schema}.m/versions/1").json()["status"] == "PENDING_REGISTRATION"
    (local_path(created["storage_location"]) / "MLmodel").write_text("x")
    assert uc.patch(f"/models/{schema}.m/versions/1/finalize").status_code == 200
    _assert_error(uc.patch(f"/models/{schema}.m/versions/1/finalize"), 400, "INVALID_ARGUMENT")
    _assert_error(uc.post("/temporary-model-version-credentials", json={
        "catalog_name": catalog_name, "schema_name": schema_name, "model_name": "m",
        "version": created["version"], "operation": "READ_WRITE_MODEL_VERSION"}),
        400, "INVALID_ARGUMENT")  # READY: its files can no longer change
    _assert_error(uc.delete(f"/catalogs/{catalog_name}"), 400, "FAILED_PRECONDITION")
