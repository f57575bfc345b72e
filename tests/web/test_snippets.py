"""The "Load this model" snippets run when pasted alone into a fresh Python: no variables from
the test, another working directory, no MLFLOW_* or DATABRICKS_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import infer_signature

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.api.identity.conftest import AuthServer
from tests.support.cli import run_cli
from tests.support.server import ServerProcess

PREDICT = """
import pandas
print(model.predict(pandas.DataFrame({"amount": [1.0, 2.0]})).sum().sum())
"""


REPO = Path(__file__).resolve().parents[2]


class Tripler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input * 3


def run_snippet(code: str, env: dict[str, str] | None = None) -> str:
    """Run `code` as a user would paste it; returns the last line it printed."""
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("MLFLOW_", "DATABRICKS_", "MODELYARD_"))}
    # The model's class is pickled from this test module: as for any user, their own code
    # must be importable where the model is loaded.
    clean["PYTHONPATH"] = str(REPO)
    with tempfile.TemporaryDirectory(prefix="snippet-") as folder:
        result = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True,
                                text=True, timeout=180, env={**clean, **(env or {})})
    assert result.returncode == 0, f"{code}\n---\n{result.stderr[-3000:]}"
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pyfunc model (times 3) with a signature, saved to a local folder."""
    frame = pd.DataFrame({"amount": [1.0, 2.0]})
    path = tmp_path_factory.mktemp("saved") / "model"
    # Naming the requirements skips mlflow's inference of them (a subprocess: seconds).
    mlflow.pyfunc.save_model(str(path), python_model=Tripler(), pip_requirements=["mlflow"],
                             signature=infer_signature(frame, frame * 3))
    return path


def test_workspace_snippet_runs_alone(page: Page, server: ServerProcess, saved_model: Path,
                                      prefix: str, engine: str) -> None:
    name = f"{prefix}-tripler"
    registry = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    registry.create_registered_model(name)
    registry.create_model_version(name, str(saved_model))  # a path every process here reads
    registry.set_registered_model_alias(name, "champion", "1")
    page.goto(f"{server.url}/models/{name}/versions/1")
    snippet = page.locator("#load-snippet").inner_text()
    assert f'mlflow.set_registry_uri("{server.url}")' in snippet
    assert f"models:/{name}@champion" in snippet
    if engine == "sqlite":  # the client's side is the same whatever the server's database
        assert run_snippet(snippet + PREDICT) == "9.0"


def test_unity_catalog_snippet_runs_alone(page: Page, server: ServerProcess, saved_model: Path,
                                          prefix: str, engine: str) -> None:
    schema = f"main.s_{prefix}"
    name = f"{schema}.tripler"
    run_cli("schemas", "create", schema, url=server.url)
    run_cli("models", "create", name, url=server.url)
    run_cli("versions", "create", name, str(saved_model), url=server.url)
    run_cli("aliases", "set", f"{name}@champion", "1", url=server.url)
    catalog, schema_name, model = name.split(".")
    page.goto(f"{server.url}/catalogs/{catalog}/{schema_name}/{model}/versions/1")
    snippet = page.locator("#load-snippet").inner_text()
    assert 'mlflow.set_registry_uri("databricks-uc")' in snippet
    assert f'os.environ["DATABRICKS_HOST"] = "{server.url}"' in snippet
    if engine == "sqlite":  # the client's side is the same whatever the server's database
        assert run_snippet(snippet + PREDICT) == "9.0"


def test_snippets_name_the_token_with_auth(page: Page, web_auth_server: AuthServer) -> None:
    server = web_auth_server
    page.goto(f"{server.url}/signin")
    page.get_by_label("Token", exact=True).fill(server.admin_token)
    page.get_by_role("button", name="Sign in with token").click()
    name = f"snip-{uuid.uuid4().hex[:8]}"
    with server.admin() as http:
        http.post("/api/2.0/mlflow/registered-models/create", json={"name": name})
        http.post("/api/2.0/mlflow/model-versions/create",
                  json={"name": name, "source": "s3://bucket/m"})
    page.goto(f"{server.url}/models/{name}/versions/1")
    expect(page.locator("#load-snippet")).to_contain_text("MLFLOW_TRACKING_TOKEN")
    assert server.admin_token not in page.locator("#load-snippet").inner_text()
