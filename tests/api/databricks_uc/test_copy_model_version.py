"""Promotion: `copy_model_version` from the workspace registry (registry URI http://…) into
Unity Catalog copies the files into governed storage, applies the signature rule, and records
where the new version came from."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.support.server import ServerProcess
from tests.support.uc_models import model_dir, predict


@pytest.fixture()
def schema(http: httpx.Client) -> str:
    name = f"fraud_{uuid.uuid4().hex[:8]}"
    answer = http.post("/api/2.1/unity-catalog/schemas",
                       json={"name": name, "catalog_name": "main"})
    assert answer.status_code == 200, answer.text
    return f"main.{name}"


def _workspace_version(client: MlflowClient, source: str) -> str:
    name = f"fraud-model-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    for _ in range(3):  # the third version is the one promoted
        client.create_model_version(name, source)
    return name


def test_copy_from_workspace_registry_into_unity_catalog(
        server: ServerProcess, http: httpx.Client, schema: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = MlflowClient(registry_uri=server.url)
    source_name = _workspace_version(workspace, str(model_dir(tmp_path, 7)))

    copied = workspace.copy_model_version(f"models:/{source_name}/3", f"{schema}.detector")
    assert (copied.name, copied.version, copied.status) == (f"{schema}.detector", "1", "READY")
    assert copied.source == f"models:/{source_name}/3"

    info = http.get(f"/api/2.1/unity-catalog/models/{schema}.detector/versions/1").json()
    assert info["status"] == "READY"
    assert info["copied_from"] == f"models:/{source_name}/3"
    assert len(info["root_digest"]) == 64

    # A second copy lands as version 2 of the same UC model.
    again = workspace.copy_model_version(f"models:/{source_name}/2", f"{schema}.detector")
    assert again.version == "2"

    # The copy is a real governed UC version: databricks-uc loads it from Modelyard's storage.
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-modelyard-test")
    mlflow.set_registry_uri("databricks-uc")
    try:
        assert predict(f"models:/{schema}.detector/1") == [8, 9, 10]
    finally:
        mlflow.set_registry_uri("")


def test_copy_without_signature_is_refused(server: ServerProcess, http: httpx.Client,
                                           schema: str, tmp_path: Path) -> None:
    workspace = MlflowClient(registry_uri=server.url)
    source_name = _workspace_version(workspace,
                                     str(model_dir(tmp_path, 1, with_signature=False)))
    with pytest.raises(MlflowException, match="did not contain any signature metadata"):
        workspace.copy_model_version(f"models:/{source_name}/3", f"{schema}.unsigned")
    versions = http.get(f"/api/2.1/unity-catalog/models/{schema}.unsigned/versions").json()
    assert [v["status"] for v in versions["model_versions"]] == ["FAILED_REGISTRATION"]


def test_copy_from_a_source_the_server_cannot_read(server: ServerProcess, schema: str) -> None:
    workspace = MlflowClient(registry_uri=server.url)
    source_name = _workspace_version(workspace, "models:/m-0123456789abcdef")
    with pytest.raises(MlflowException, match="cannot read"):
        workspace.copy_model_version(f"models:/{source_name}/3", f"{schema}.unreadable")
