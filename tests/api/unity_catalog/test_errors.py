"""Unity Catalog's error envelope and statuses for what users get wrong."""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from tests.api.unity_catalog.conftest import local_path
from tests.support.uc_models import SIGNED_MLMODEL


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
    # A relative path would land in the server's working directory.
    for relative in ("relative/root", "~/root"):
        _assert_error(uc.post("/catalogs", json={"name": "ok_name", "storage_root": relative}),
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
    (local_path(created["storage_location"]) / "MLmodel").write_text(SIGNED_MLMODEL)
    assert uc.patch(f"/models/{schema}.m/versions/1/finalize").status_code == 200
    _assert_error(uc.patch(f"/models/{schema}.m/versions/1/finalize"), 400, "INVALID_ARGUMENT")
    _assert_error(uc.post("/temporary-model-version-credentials", json={
        "catalog_name": catalog_name, "schema_name": schema_name, "model_name": "m",
        "version": created["version"], "operation": "READ_WRITE_MODEL_VERSION"}),
        400, "INVALID_ARGUMENT")  # READY: its files can no longer change
    _assert_error(uc.delete(f"/catalogs/{catalog_name}"), 400, "FAILED_PRECONDITION")


def _cjk_extension_b(n: int) -> str:
    """`n` random letters of 4 UTF-8 bytes each (CJK Unified Ideographs Extension B)."""
    rng = random.Random(n)
    return "".join(chr(rng.randrange(0x20000, 0x2A6D0)) for _ in range(n))


def test_longest_names_and_tag_values_fit(uc: httpx.Client, engine: str) -> None:
    """Three names of 255 characters make a 767-character full name, and a model tag of 20,000
    characters: both engines store them. Where PostgreSQL's limits are in bytes (an index entry
    of multi-byte characters), the answer is a 400 in the UC envelope, never a 500."""
    catalog = "c" * 245 + uuid.uuid4().hex[:10]
    wide_catalog, wide_schema = _cjk_extension_b(245) + uuid.uuid4().hex[:10], _cjk_extension_b(255)
    assert uc.post("/catalogs", json={"name": catalog}).status_code == 200
    try:
        assert uc.post("/schemas", json={"catalog_name": catalog, "name": "s" * 255}
                       ).status_code == 200
        created = uc.post("/models", json={"catalog_name": catalog, "schema_name": "s" * 255,
                                           "name": "m" * 255})
        assert created.status_code == 200, created.text
        full_name = created.json()["full_name"]
        assert len(full_name) == 767
        tagged = uc.post("/entity-tag-assignments", json={
            "entity_type": "registered_models", "entity_name": full_name,
            "tag_key": "blob", "tag_value": "v" * 20_000})
        assert tagged.status_code == 200, tagged.text
        tags = uc.get(f"/entity-tag-assignments/registered_models/{full_name}/tags").json()
        assert [t["tag_value"] for t in tags["tag_assignments"]] == ["v" * 20_000]
        assert uc.get(f"/models/{full_name}").json()["name"] == "m" * 255
        # 767 characters of 4 bytes each, not compressible: over PostgreSQL's 2,704-byte index
        # entry.
        uc.post("/catalogs", json={"name": wide_catalog})
        uc.post("/schemas", json={"catalog_name": wide_catalog, "name": wide_schema})
        wide = uc.post("/models", json={"catalog_name": wide_catalog, "schema_name": wide_schema,
                                        "name": _cjk_extension_b(255)})
        if engine == "postgres":
            _assert_error(wide, 400, "INVALID_ARGUMENT")
            assert "too long" in wide.json()["message"]
        else:
            assert wide.status_code == 200, wide.text
    finally:
        uc.delete(f"/catalogs/{catalog}", params={"force": "true"})
        uc.delete(f"/catalogs/{wide_catalog}", params={"force": "true"})
