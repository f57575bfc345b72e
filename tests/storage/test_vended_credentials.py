"""`uc:http://…` with an `s3://` storage location: the mlflow client itself writes and reads S3
with temporary credentials Modelyard vends (STS, scoped to the version's prefix).

The client looks up the bucket's region in the `x-amz-bucket-region` header of HEAD bucket,
which SeaweedFS 4.48 does not send; moto's S3 server does (as AWS and MinIO do), so this path
runs against moto. The client finds the endpoint in its own MLFLOW_S3_ENDPOINT_URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.support import http_clients, s3
from tests.support.server import ServerProcess
from tests.support.uc_models import log_model, predict


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3.S3Process]:
    process = s3.moto(tmp_path_factory.mktemp("moto")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def s3_server(moto: s3.S3Process,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    bucket = moto.create_bucket(f"uc-{uuid.uuid4().hex[:8]}")
    process = ServerProcess(tmp_path_factory.mktemp("server-moto"),
                            extra_args=["--storage-root", f"s3://{bucket}/governed"],
                            env=moto.env).start()
    try:
        yield process, bucket
    finally:
        process.stop()


def test_uc_client_writes_s3_with_vended_credentials(
        s3_server: tuple[ServerProcess, str], moto: s3.S3Process, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    server, bucket = s3_server
    # The client has no credentials of its own: only what Modelyard vends.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment(experiment_id=mlflow.create_experiment(
        "vended", artifact_location=str(tmp_path / "files")))
    mlflow.set_registry_uri(f"uc:{server.url}")
    name = f"main.default.vended_{uuid.uuid4().hex[:8]}"
    try:
        log_model(5, registered_model_name=name)
        assert predict(f"models:/{name}/1") == [6, 7, 8]
    finally:
        mlflow.set_registry_uri("")

    http = http_clients.Client(base_url=server.url)
    version = http.get(f"/api/2.1/unity-catalog/models/{name}/versions/1").json()
    assert version["status"] == "READY"
    assert version["storage_location"].startswith(f"s3://{bucket}/governed/")
    key = version["storage_location"].split("/", 3)[3]
    assert "MLmodel" in {k[len(key) + 1:] for k in moto.keys(bucket, key + "/")}

    credentials = http.post("/api/2.1/unity-catalog/temporary-model-version-credentials", json={
        "catalog_name": "main", "schema_name": "default", "model_name": name.split(".")[2],
        "version": 1, "operation": "READ_MODEL_VERSION"}).json()
    aws = credentials["aws_temp_credentials"]
    assert aws["access_key_id"] and aws["secret_access_key"] and aws["session_token"]
    assert aws["access_key_id"] != s3.ACCESS_KEY  # temporary, not the server's own keys
    assert credentials["expiration_time"] > 0

    # Writing is refused once READY; deleting removes the objects.
    refused = http.post("/api/2.1/unity-catalog/temporary-model-version-credentials", json={
        "catalog_name": "main", "schema_name": "default", "model_name": name.split(".")[2],
        "version": 1, "operation": "READ_WRITE_MODEL_VERSION"})
    assert refused.status_code == 400
    assert http.delete(f"/api/2.1/unity-catalog/models/{name}").status_code == 200
    assert moto.keys(bucket, key + "/") != []  # kept while in the trash
    assert http.post("/api/modelyard/v1/trash/purge", json={"name": name}).status_code == 200
    assert moto.keys(bucket, key + "/") == []
