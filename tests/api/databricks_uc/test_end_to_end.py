"""`mlflow.set_registry_uri("databricks-uc")` with DATABRICKS_HOST pointing at Modelyard:
register, alias, load by alias and version, predict; Databricks' signature rule."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import (
    log_model,
    model_dir,
    predict,
    upload_dir,
)


def test_register_alias_load_andpredict(databricks_uc: MlflowClient, uc_model_name: str,
                                         http: httpx.Client) -> None:
    log_model(1, registered_model_name=uc_model_name)
    log_model(2, registered_model_name=uc_model_name)
    first = databricks_uc.get_model_version(uc_model_name, "1")
    assert first.status == "READY"

    databricks_uc.set_registered_model_alias(uc_model_name, "champion", 1)
    assert predict(f"models:/{uc_model_name}@champion") == [2, 3, 4]
    assert predict(f"models:/{uc_model_name}/2") == [3, 4, 5]

    databricks_uc.set_registered_model_alias(uc_model_name, "champion", 2)
    assert predict(f"models:/{uc_model_name}@champion") == [3, 4, 5]
    assert databricks_uc.get_model_version_by_alias(uc_model_name, "champion").version == "2"
    assert databricks_uc.get_registered_model(uc_model_name).aliases == {"champion": "2"}

    # The files are governed: digests recorded at finalize, listed by Modelyard's file API.
    listing = http.get(f"/api/modelyard/v1/uc/models/{uc_model_name}/versions/1/files").json()
    assert listing["status"] == "READY" and len(listing["root_digest"]) == 64
    assert "MLmodel" in {f["path"] for f in listing["files"]}

    # The rest of the client's surface: search, update, download URI, tags, delete.
    assert uc_model_name in {m.name for m in databricks_uc.search_registered_models()}
    found = databricks_uc.search_model_versions(f"name='{uc_model_name}'")
    assert sorted(v.version for v in found) == ["1", "2"]
    databricks_uc.update_model_version(uc_model_name, "1", description="first try")
    assert databricks_uc.get_model_version(uc_model_name, "1").description == "first try"
    databricks_uc.update_registered_model(uc_model_name, description="adds numbers")
    assert databricks_uc.get_registered_model(uc_model_name).description == "adds numbers"
    databricks_uc.set_model_version_tag(uc_model_name, "1", "validated", "yes")
    assert databricks_uc.get_model_version(uc_model_name, "1").tags == {"validated": "yes"}
    databricks_uc.set_registered_model_tag(uc_model_name, "team", "fraud")
    assert databricks_uc.get_registered_model(uc_model_name).tags == {"team": "fraud"}
    uri = databricks_uc.get_model_version_download_uri(uc_model_name, "1")
    assert uri == first.source or uri.startswith(("file://", "s3://"))

    databricks_uc.delete_registered_model_alias(uc_model_name, "champion")
    with pytest.raises(MlflowException):
        databricks_uc.get_model_version_by_alias(uc_model_name, "champion")
    databricks_uc.delete_model_version(uc_model_name, "2")
    assert [v.version for v in databricks_uc.search_model_versions(
        f"name='{uc_model_name}'")] == ["1"]
    databricks_uc.delete_registered_model(uc_model_name)
    with pytest.raises(MlflowException, match=r"not found|does not exist|NOT_FOUND"):
        databricks_uc.get_registered_model(uc_model_name)


def test_probes_the_client_makes(http: httpx.Client) -> None:
    assert http.get("/.well-known/databricks-config").json() == {"oidc_endpoint": ""}
    probe = http.get("/api/2.0/mlflow/unity-catalog/registered-models:"
                     "is-databricks-sdk-models-artifact-repository-enabled")
    assert probe.json() == {"is_databricks_sdk_models_artifact_repository_enabled": False}


def test_model_without_signature_is_refused(databricks_uc: MlflowClient,
                                            uc_model_name: str) -> None:
    with pytest.raises(MlflowException, match="did not contain any signature metadata"):
        log_model(1, registered_model_name=uc_model_name, with_signature=False)


def test_server_checks_the_signature_again_at_finalize(
        server: ServerProcess, http: httpx.Client, uc_model_name: str, tmp_path: Path) -> None:
    """A client that skips the client-side check still cannot register a model without a
    signature: finalize reads MLmodel from storage and refuses, and the version fails."""
    api = "/api/2.0/mlflow/unity-catalog"
    assert http.post(f"{api}/registered-models/create",
                     json={"name": uc_model_name}).status_code == 200
    created = http.post(f"{api}/model-versions/create",
                        json={"name": uc_model_name, "source": "s3://elsewhere/model"}).json()
    version = created["model_version"]["version"]
    assert created["model_version"]["status"] == "PENDING_REGISTRATION"
    upload_dir(http, uc_model_name, version, model_dir(tmp_path, 1, with_signature=False))

    answer = http.post(f"{api}/model-versions/finalize",
                       json={"name": uc_model_name, "version": version})
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "did not contain any signature metadata" in answer.json()["message"]
    assert "All models in the Unity Catalog must be logged with a model signature" in (
        answer.json()["message"])
    failed = http.get(f"{api}/model-versions/get",
                      params={"name": uc_model_name, "version": version}).json()
    assert failed["model_version"]["status"] == "FAILED_REGISTRATION"


def test_signed_urls_are_scoped_expiring_and_write_once(
        server: ServerProcess, http: httpx.Client, uc_model_name: str, tmp_path: Path) -> None:
    api = "/api/2.0/mlflow/unity-catalog"
    http.post(f"{api}/registered-models/create", json={"name": uc_model_name})
    version = http.post(f"{api}/model-versions/create", json={
        "name": uc_model_name, "source": "s3://x/y"}).json()["model_version"]["version"]
    catalog, schema, model = uc_model_name.split(".")
    prefix = f"/Models/{catalog}/{schema}/{model}/{version}"
    url = http.post("/api/2.0/fs/create-upload-url",
                    json={"path": f"{prefix}/data/a.bin"}).json()["url"]

    # Tampering with the path, the version id or the signature is refused.
    for tampered in (url.replace("data/a.bin", "data/b.bin"),
                     url.replace("signature=", "signature=0"),
                     url.replace("expires=", "expires=9")):
        assert http_clients.put(tampered, content=b"x").status_code == 403
    other = url.replace(f"/{version}/", f"/{int(version) + 1}/")
    assert http_clients.put(other, content=b"x").status_code in (403, 404)

    upload_dir(http, uc_model_name, version, model_dir(tmp_path, 1))
    assert http_clients.put(url, content=b"hello").status_code == 200
    finalized = http.post(f"{api}/model-versions/finalize",
                          json={"name": uc_model_name, "version": version})
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["model_version"]["status"] == "READY"

    # A READY version's files never change: the same URL is now refused, as are new ones.
    assert http_clients.put(url, content=b"changed").status_code == 400
    assert http.post("/api/2.0/fs/create-upload-url",
                     json={"path": f"{prefix}/data/a.bin"}).status_code == 400
    download = http.post("/api/2.0/fs/create-download-url",
                         json={"path": f"{prefix}/data/a.bin"}).json()["url"]
    assert http_clients.get(download).content == b"hello"
    listing = http.get(f"/api/2.0/fs/directories{prefix}/data").json()
    assert listing["contents"] == [{"path": f"{prefix}/data/a.bin", "name": "a.bin",
                                    "is_directory": False, "file_size": 5}]
    assert http.get(f"/api/2.0/fs/directories{prefix}/nope").status_code == 404
