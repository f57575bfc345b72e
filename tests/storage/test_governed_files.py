"""Governed files over HTTP, on both backends (local directory and S3 on SeaweedFS): upload
through Modelyard's own signed URLs, finalize, download with digests, and deletes that leave
no object behind."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx

from tests.storage.conftest import Backend
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import (
    create_pending_version,
    finalize,
    fs_prefix,
    log_model,
    model_dir,
    predict,
    upload_dir,
)

API = "/api/2.0/mlflow/unity-catalog"
TRASH = "/api/modelyard/v1/trash"


def _storage_key(backend: Backend, location: str) -> str:
    """A version's storage location as the relative names `leftover_files` lists."""
    if backend.s3 is not None:
        return location.split("/", 3)[3]
    assert backend.local_dir is not None
    return location.removeprefix(backend.local_dir.resolve().as_uri()).strip("/")


def test_upload_finalize_download_delete(backend: Backend, storage_http: httpx.Client,
                                         uc_model_name: str, tmp_path: Path) -> None:
    source = model_dir(tmp_path, 1)
    version = create_pending_version(storage_http, uc_model_name)
    upload_dir(storage_http, uc_model_name, version, source)
    answer = finalize(storage_http, uc_model_name, version)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"]["status"] == "READY"
    location = answer.json()["model_version"]["storage_location"]
    assert location.startswith(backend.root if backend.s3 else "file://")
    key = _storage_key(backend, location)
    stored = [name for name in backend.leftover_files() if name.startswith(key + "/")]
    expected = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert sorted(name[len(key) + 1:] for name in stored) == expected

    # Every file downloads through a signed URL with the digest recorded at finalize.
    listing = storage_http.get(
        f"/api/modelyard/v1/uc/models/{uc_model_name}/versions/{version}/files").json()
    recorded = {f["path"]: f["sha256"] for f in listing["files"]}
    assert sorted(recorded) == expected
    for path, sha256 in recorded.items():
        url = storage_http.post("/api/2.0/fs/create-download-url", json={
            "path": f"{fs_prefix(uc_model_name, version)}/{path}"}).json()["url"]
        body = http_clients.get(url).content
        assert hashlib.sha256(body).hexdigest() == sha256
        assert body == (source / path).read_bytes()

    # Deleting moves to the trash, files kept; purging the version deletes its files, purging
    # the model the rest.
    second = create_pending_version(storage_http, uc_model_name)
    upload_dir(storage_http, uc_model_name, second, source)
    assert finalize(storage_http, uc_model_name, second).status_code == 200
    assert storage_http.request("DELETE", f"{API}/model-versions/delete", json={
        "name": uc_model_name, "version": version}).status_code == 200
    assert [n for n in backend.leftover_files() if n.startswith(key + "/")]
    assert storage_http.post(f"{TRASH}/purge", json={
        "name": uc_model_name, "version": version}).status_code == 200
    assert not [n for n in backend.leftover_files() if n.startswith(key + "/")]
    model_key = key.rsplit("/versions/", 1)[0]
    assert [n for n in backend.leftover_files() if n.startswith(model_key + "/")]
    assert storage_http.request("DELETE", f"{API}/registered-models/delete", json={
        "name": uc_model_name}).status_code == 200
    assert storage_http.post(f"{TRASH}/purge", json={"name": uc_model_name}).status_code == 200
    assert not [n for n in backend.leftover_files() if n.startswith(model_key + "/")]


def test_failed_registration_removes_uploaded_files(
        backend: Backend, storage_http: httpx.Client, uc_model_name: str,
        tmp_path: Path) -> None:
    version = create_pending_version(storage_http, uc_model_name)
    upload_dir(storage_http, uc_model_name, version, model_dir(tmp_path, 1,
                                                               with_signature=False))
    location = storage_http.get(f"{API}/model-versions/get", params={
        "name": uc_model_name, "version": version}).json()["model_version"]["storage_location"]
    key = _storage_key(backend, location)
    assert [n for n in backend.leftover_files() if n.startswith(key + "/")]
    assert finalize(storage_http, uc_model_name, version).status_code == 400
    assert not [n for n in backend.leftover_files() if n.startswith(key + "/")]


def test_mlflow_databricks_uc_client_on_backend(
        backend: Backend, databricks_uc_on_backend: str, uc_model_name: str) -> None:
    from mlflow import MlflowClient

    log_model(3, registered_model_name=uc_model_name)
    MlflowClient(registry_uri="databricks-uc").set_registered_model_alias(
        uc_model_name, "champion", 1)
    assert predict(f"models:/{uc_model_name}@champion") == [4, 5, 6]
    assert predict(f"models:/{uc_model_name}/1") == [4, 5, 6]


def test_promotion_copies_into_the_backend(backend: Backend, storage_server: ServerProcess,
                                           storage_http: httpx.Client, uc_model_name: str,
                                           tmp_path: Path) -> None:
    """copy_model_version from the workspace registry: the files are read from the workspace
    version's source (a local directory, or an s3:// prefix read with the server's own
    credentials) and land in this backend's governed storage."""
    from mlflow import MlflowClient

    directory = model_dir(tmp_path, 4)
    source = str(directory)
    if backend.s3 is not None:
        client = backend.s3.client()
        prefix = f"workspace-models/{uuid.uuid4().hex[:8]}"
        for file in (p for p in directory.rglob("*") if p.is_file()):
            client.put_object(  # type: ignore[attr-defined]
                Bucket=backend.bucket, Key=f"{prefix}/{file.relative_to(directory).as_posix()}",
                Body=file.read_bytes())
        source = f"s3://{backend.bucket}/{prefix}"
    workspace = MlflowClient(registry_uri=storage_server.url)
    origin = f"ws-{uuid.uuid4().hex[:8]}"
    workspace.create_registered_model(origin)
    workspace.create_model_version(origin, source)

    copied = workspace.copy_model_version(f"models:/{origin}/1", uc_model_name)
    assert copied.status == "READY"
    info = storage_http.get(f"/api/2.1/unity-catalog/models/{uc_model_name}/versions/1").json()
    assert info["copied_from"] == f"models:/{origin}/1"
    key = _storage_key(backend, info["storage_location"])
    stored = sorted(n[len(key) + 1:] for n in backend.leftover_files()
                    if n.startswith(key + "/"))
    assert stored == sorted(p.relative_to(directory).as_posix()
                            for p in directory.rglob("*") if p.is_file())


def test_temporary_credentials_per_backend(backend: Backend, storage_http: httpx.Client,
                                           uc_model_name: str) -> None:
    """Local: a file:// location needs no credentials. SeaweedFS: its STS issues none, so
    the `uc:` client is told clearly to use Modelyard's upload URLs instead."""
    version = create_pending_version(storage_http, uc_model_name)
    catalog, schema, model = uc_model_name.split(".")
    answer = storage_http.post("/api/2.1/unity-catalog/temporary-model-version-credentials",
                               json={"catalog_name": catalog, "schema_name": schema,
                                     "model_name": model, "version": int(version),
                                     "operation": "READ_WRITE_MODEL_VERSION"})
    if backend.s3 is None:
        assert answer.status_code == 200, answer.text
        assert answer.json()["url"].startswith("file://")
        assert "aws_temp_credentials" not in answer.json()
    else:
        assert answer.status_code == 400, answer.text
        assert "upload URLs" in answer.json()["message"]
