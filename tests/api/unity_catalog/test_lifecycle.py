"""Governed storage: digests at finalize, lineage, credentials, and the pending-timeout sweep."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.unity_catalog.conftest import UC, files_under, local_path
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL


def test_finalize_records_digests_and_lineage(uc: httpx.Client, schema: str,
                                              server: ServerProcess) -> None:
    catalog_name, schema_name = schema.split(".")
    uc.post("/models", json={"catalog_name": catalog_name, "schema_name": schema_name,
                             "name": "m"})
    lineage = {"run_id": "run-1", "model_id": "m-abc", "run_tracking_server_id": "tracking-7",
               "run_workspace_id": 42,
               "model_version_dependencies": {"dependencies": [
                   {"table": {"table_full_name": "main.features.users"}}]},
               "datasets": [{"name": "train", "digest": "d1", "source": "main.raw.tx"}]}
    created = uc.post("/models/versions", json={
        "catalog_name": catalog_name, "schema_name": schema_name, "model_name": "m",
        "source": "runs:/run-1/model", "comment": "first", **lineage}).json()
    assert created["status"] == "PENDING_REGISTRATION"
    credentials = uc.post("/temporary-model-version-credentials", json={
        "catalog_name": catalog_name, "schema_name": schema_name, "model_name": "m",
        "version": 1, "operation": "READ_WRITE_MODEL_VERSION"}).json()
    assert credentials["url"] == created["storage_location"]  # file://: nothing to vend
    directory = local_path(created["storage_location"])
    (directory / "sub").mkdir()
    (directory / "MLmodel").write_text(SIGNED_MLMODEL)
    (directory / "sub" / "weights.bin").write_bytes(b"\x00" * 1000)

    ready = uc.patch(f"/models/{schema}.m/versions/1/finalize",
                     json={"full_name": f"{schema}.m", "version": 1}).json()
    assert ready["status"] == "READY" and len(ready["root_digest"]) == 64
    for key in ("run_id", "model_id", "run_tracking_server_id", "run_workspace_id", "datasets"):
        assert ready[key] == lineage[key]
    assert ready["model_version_dependencies"] == lineage["model_version_dependencies"]
    assert uc.get(f"/models/{schema}.m/versions/1").json()["datasets"] == lineage["datasets"]

    with http_clients.Client(base_url=server.url) as http:
        listing = http.get(f"/api/modelyard/v1/uc/models/{schema}.m/versions/1/files").json()
        assert listing["root_digest"] == ready["root_digest"]
        assert listing["files"] == [
            {"path": "MLmodel", "size": len(SIGNED_MLMODEL),
             "sha256": hashlib.sha256(SIGNED_MLMODEL.encode()).hexdigest()},
            {"path": "sub/weights.bin", "size": 1000,
             "sha256": hashlib.sha256(b"\x00" * 1000).hexdigest()}]
        download = http.get(f"/api/modelyard/v1/uc/models/{schema}.m/versions/1/files/"
                            "sub/weights.bin")
        assert download.content == b"\x00" * 1000
        assert download.headers["x-modelyard-sha256"] == listing["files"][1]["sha256"]


@pytest.fixture()
def quick_sweep_server(engine: str, database_url: str | None,
                       tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose PENDING versions are abandoned after one second."""
    process = ServerProcess(tmp_path / "server", database_url,
                            extra_args=["--pending-timeout", "1"]).start()
    try:
        yield process
    finally:
        process.stop()


def test_abandoned_pending_versions_fail_and_lose_their_files(
        quick_sweep_server: ServerProcess) -> None:
    with http_clients.Client(base_url=quick_sweep_server.url + UC, timeout=30) as uc:
        uc.post("/schemas", json={"catalog_name": "main", "name": "sweep"})
        uc.post("/models", json={"catalog_name": "main", "schema_name": "sweep", "name": "m"})
        body = {"catalog_name": "main", "schema_name": "sweep", "model_name": "m",
                "source": "runs:/r/m"}
        abandoned = uc.post("/models/versions", json=body).json()
        directory = local_path(abandoned["storage_location"])
        (directory / "half-uploaded.bin").write_bytes(b"x" * 100)

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            version = uc.get("/models/main.sweep.m/versions/1").json()
            if version["status"] != "PENDING_REGISTRATION":
                break
            time.sleep(0.2)
        assert version["status"] == "FAILED_REGISTRATION"
        assert "not finalized within 1 s" in version["status_message"]
        assert not directory.exists(), "the abandoned upload's files are removed"

        # Finalizing too late is refused; a fresh version still works.
        late = uc.patch("/models/main.sweep.m/versions/1/finalize")
        assert late.status_code == 400 and late.json()["error_code"] == "INVALID_ARGUMENT"
        fresh = uc.post("/models/versions", json=body).json()
        (local_path(fresh["storage_location"]) / "MLmodel").write_text(SIGNED_MLMODEL)
        done = uc.patch("/models/main.sweep.m/versions/2/finalize").json()
        assert done["status"] == "READY"
        time.sleep(1.5)  # a READY version is never swept
        assert uc.get("/models/main.sweep.m/versions/2").json()["status"] == "READY"
        artifacts = quick_sweep_server.data_dir / "artifacts"
        assert [p.name for p in files_under(artifacts)] == ["MLmodel"]


def test_renaming_a_catalog_or_schema_renames_its_models(uc: httpx.Client) -> None:
    catalog = f"ren_{uuid.uuid4().hex[:8]}"
    uc.post("/catalogs", json={"name": catalog})
    uc.post("/schemas", json={"catalog_name": catalog, "name": "a"})
    uc.post("/models", json={"catalog_name": catalog, "schema_name": "a", "name": "m"})
    version = uc.post("/models/versions", json={"catalog_name": catalog, "schema_name": "a",
                                                "model_name": "m", "source": "x"}).json()
    (local_path(version["storage_location"]) / "MLmodel").write_text(SIGNED_MLMODEL)
    uc.patch(f"/models/{catalog}.a.m/versions/1/finalize")
    uc.put(f"/models/{catalog}.a.m/aliases/prod", json={"version_num": 1})
    try:
        assert uc.patch(f"/schemas/{catalog}.a", json={"new_name": "b"}).json()[
            "full_name"] == f"{catalog}.b"
        assert uc.patch(f"/catalogs/{catalog}", json={"new_name": catalog + "x"}).json()[
            "name"] == catalog + "x"
        moved = uc.get(f"/models/{catalog}x.b.m/aliases/prod").json()
        assert (moved["catalog_name"], moved["schema_name"], moved["version"]) == (
            catalog + "x", "b", 1)
        assert uc.get(f"/models/{catalog}.a.m").status_code == 404
        listed = uc.get("/models", params={"catalog_name": catalog + "x",
                                           "schema_name": "b"}).json()["registered_models"]
        assert [m["full_name"] for m in listed] == [f"{catalog}x.b.m"]
    finally:
        uc.delete(f"/catalogs/{catalog}x", params={"force": "true"})
        uc.delete(f"/catalogs/{catalog}", params={"force": "true"})
