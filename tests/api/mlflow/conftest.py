"""The real `mlflow` client pointed at our server, with a local SQLite tracking store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from tests.support.server import ServerProcess


class AddN(mlflow.pyfunc.PythonModel):
    """A tiny real model: adds `n` to every input value."""

    def __init__(self, n: int) -> None:
        self.n = n

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input.apply(lambda column: column + self.n)


@pytest.fixture(scope="session")
def tracking_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-tracking")


@pytest.fixture(scope="session")
def tracking_uri(tracking_root: Path) -> str:
    return f"sqlite:///{tracking_root / 'mlflow.db'}"


@pytest.fixture()
def mlflow_client(server: ServerProcess, tracking_uri: str) -> Iterator[MlflowClient]:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(server.url)
    yield MlflowClient(tracking_uri=tracking_uri, registry_uri=server.url)


@pytest.fixture(scope="session")
def logged_models(tracking_uri: str, tracking_root: Path) -> dict[int, str]:
    """Two logged pyfunc models (adding 1 and 2); maps n to the run id that logged it."""
    mlflow.set_tracking_uri(tracking_uri)
    # Keep the model files in the test's temporary folder, not in ./mlruns.
    experiment = mlflow.create_experiment(
        f"registry-tests-{tracking_root.name}", artifact_location=str(tracking_root / "files"))
    mlflow.set_experiment(experiment_id=experiment)
    runs = {}
    for n in (1, 2):
        with mlflow.start_run() as run:
            # Requirements named: inferring them runs the model in a subprocess (seconds).
            mlflow.pyfunc.log_model(name="model", python_model=AddN(n),
                                    pip_requirements=["mlflow"])
            runs[n] = run.info.run_id
    return runs
