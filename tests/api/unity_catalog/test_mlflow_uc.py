"""The mlflow client with registry URI `uc:http://…` (Unity Catalog OSS mode), file:// storage:
the client writes the model's files straight into the version's governed location."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import infer_signature

from tests.api.unity_catalog.conftest import UC, files_under, local_path
from tests.support import http_clients
from tests.support.server import ServerProcess


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n: int) -> None:
        self.n = n

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input.apply(lambda column: column + self.n)


@pytest.fixture()
def uc_registry(server: ServerProcess, tmp_path: Path) -> Iterator[MlflowClient]:
    tracking_uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    registry_uri = f"uc:{server.url}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)
    experiment = mlflow.create_experiment("uc-tests", artifact_location=str(tmp_path / "runs"))
    mlflow.set_experiment(experiment_id=experiment)
    yield MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    # Back to the default for the tests that follow (set_registry_uri also sets this variable).
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


def _predict(uri: str) -> list[int]:
    return mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"x": [1, 2, 3]}))["x"].tolist()


def test_log_register_load_predict_delete(uc_registry: MlflowClient, schema: str,
                                          server: ServerProcess) -> None:
    name = f"{schema}.adder"
    frame = pd.DataFrame({"x": [1, 2, 3]})
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=AddN(1), registered_model_name=name,
            signature=infer_signature(frame, frame + 1), pip_requirements=["mlflow"])
    assert info.registered_model_version == 1
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=AddN(2),
                                signature=infer_signature(frame, frame + 2),
                                pip_requirements=["mlflow"])
    registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert registered.version == 2

    version = uc_registry.get_model_version(name, "1")
    assert version.status == "READY" and version.source.startswith("models:/")
    second = uc_registry.get_model_version(name, "2")
    assert second.run_id == run.info.run_id  # lineage: the run that produced it

    assert _predict(f"models:/{name}/1") == [2, 3, 4]
    assert _predict(f"models:/{name}/2") == [3, 4, 5]

    # The files live in governed storage, digested at finalize.
    with http_clients.Client(base_url=server.url) as http:
        listing = http.get(f"/api/modelyard/v1/uc/models/{name}/versions/2/files").json()
        location = local_path(http.get(f"{UC}/models/{name}/versions/2").json()
                              ["storage_location"])
    assert "MLmodel" in [f["path"] for f in listing["files"]]
    assert len(listing["root_digest"]) == 64
    assert {p.relative_to(location).as_posix() for p in files_under(location)} == {
        f["path"] for f in listing["files"]}

    versions = uc_registry.search_model_versions(f"name='{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    model_dir = location.parent.parent
    uc_registry.delete_model_version(name, "1")
    assert [int(v.version) for v in uc_registry.search_model_versions(f"name='{name}'")] == [2]
    uc_registry.delete_registered_model(name)
    assert model_dir.exists(), "a deleted model's files stay while it is in the trash"
    with http_clients.Client(base_url=server.url) as native:  # purging the trash removes them
        assert native.post("/api/modelyard/v1/trash/purge",
                           json={"name": name}).status_code == 200
    assert not model_dir.exists(), "purging the model leaves no files behind"
