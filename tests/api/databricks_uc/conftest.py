"""The real mlflow client with registry URI `databricks-uc`, pointed at a running Modelyard."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import mlflow
import pytest
from mlflow import MlflowClient

from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def uc_tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("uc-tracking")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment(f"uc-{root.name}",
                                           artifact_location=str(root / "files"))
    mlflow.set_experiment(experiment_id=experiment)
    return uri


@pytest.fixture()
def databricks_uc(server: ServerProcess, uc_tracking_uri: str,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """mlflow configured exactly as on Databricks, except DATABRICKS_HOST."""
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-modelyard-test")
    mlflow.set_tracking_uri(uc_tracking_uri)
    mlflow.set_registry_uri("databricks-uc")
    yield MlflowClient(tracking_uri=uc_tracking_uri, registry_uri="databricks-uc")
    mlflow.set_registry_uri("")


@pytest.fixture()
def uc_model_name(request: pytest.FixtureRequest) -> str:
    """A fresh `main.default.<name>` (catalog `main`, schema `default` exist from the start)."""
    return f"main.default.{request.node.originalname[:30]}_{uuid.uuid4().hex[:8]}"
