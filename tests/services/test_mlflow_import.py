"""`modelyard import-mlflow` against a real `mlflow server` with real models logged through it,
into a running Modelyard server (both engines), over HTTP at both ends."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.services.mlflow_import import (
    IMPORT,
    ImportOptions,
    MlflowImport,
    NoProgress,
    RemoteError,
    Rest,
)
from tests.support.mlflow_server import MlflowServerProcess
from tests.support.server import ServerProcess

MODELYARD = str(Path(sys.executable).with_name("modelyard"))
API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def mlflow_source(tracking_server: MlflowServerProcess) -> Iterator[dict[str, Any]]:
    """The session's running MLflow server with two pyfunc models logged through it: one with
    a signature, one without."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    process = tracking_server
    # Other modules leave mlflow's global fluent state behind (tracking and registry URIs, the
    # active experiment): point all three at the source server, and put them back after.
    from mlflow.tracking import fluent

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    previous_experiment = fluent._active_experiment_id
    mlflow.set_tracking_uri(process.url)
    mlflow.set_registry_uri(process.url)
    mlflow.set_experiment(experiment_id="0")

    class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input

    frame = pd.DataFrame({"x": [1.0, 2.0]})
    try:
        # The fresh server's default experiment: not whichever experiment an earlier test
        # left active in this process (mlflow keeps it globally).
        with mlflow.start_run(experiment_id="0") as run:
            signed = mlflow.pyfunc.log_model(name="model", python_model=Echo(),
                                             signature=infer_signature(frame, frame),
                                             pip_requirements=["mlflow"])
            unsigned = mlflow.pyfunc.log_model(name="plain", python_model=Echo(),
                                               pip_requirements=["mlflow"])
        yield {"url": process.url, "run_id": run.info.run_id, "signed": signed,
               "unsigned": unsigned, "root": process.data_dir}
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
        fluent._active_experiment_id = previous_experiment


def _client(url: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


def _register(source: dict[str, Any], name: str, info: Any) -> str:
    import mlflow

    version: str = mlflow.register_model(info.model_uri, name).version
    return version


def _fraud(source: dict[str, Any], name: str) -> None:
    """A model with tags, a description, versions 1 and 3 (2 deleted), a stage, an alias."""
    client = _client(source["url"])
    client.create_registered_model(name, tags={"team": "risk"}, description="Detects fraud")
    for _ in range(3):
        _register(source, name, source["signed"])
    client.set_model_version_tag(name, "1", "validated", "yes")
    client.update_model_version(name, "1", "first one")
    client.delete_model_version(name, "2")
    client.transition_model_version_stage(name, "3", "Production")
    client.set_registered_model_alias(name, "champion", "1")


def _prompt(source: dict[str, Any], name: str) -> None:
    import mlflow

    mlflow.genai.register_prompt(name, "Hello {{who}}!", tags={"team": "x"})
    mlflow.genai.register_prompt(name, "Hi {{who}}!")
    mlflow.genai.set_prompt_alias(name, "prod", 1)


def _version(http: httpx.Client, name: str, number: int, prefix: str = API) -> dict[str, Any]:
    response = http.get(f"{prefix}/model-versions/get", params={"name": name,
                                                                "version": number})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["model_version"]
    return body


def _import(source_url: str, target_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MODELYARD, "import-mlflow", "--from", source_url, *args,
                           "--url", target_url], capture_output=True, text=True, timeout=300)


def _imports_in_audit(http: httpx.Client, name: str) -> int:
    events = http.get("/api/modelyard/v1/audit",
                      params={"action": "model_version.import", "max_results": 1000}).json()
    return sum(1 for e in events["events"] if e["object_name"].startswith(name + "/"))


def test_import_keeps_numbers_and_a_second_run_adds_nothing(
        mlflow_source: dict[str, Any], server: ServerProcess, http: httpx.Client) -> None:
    prefix = f"imp-{uuid.uuid4().hex[:8]}"
    fraud, greet = f"{prefix}-fraud", f"{prefix}-greet"
    _fraud(mlflow_source, fraud)
    _prompt(mlflow_source, greet)

    first = _import(mlflow_source["url"], server.url, "--models", f"{prefix}-*")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "imported:   2 models, 4 versions, 2 aliases" in first.stdout, first.stdout
    assert "nothing skipped or refused" in first.stdout

    model = http.get(f"{API}/registered-models/get", params={"name": fraud}).json()
    model = model["registered_model"]
    assert model["description"] == "Detects fraud"
    assert {t["key"]: t["value"] for t in model["tags"]} == {"team": "risk"}
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]
    one, three = _version(http, fraud, 1), _version(http, fraud, 3)
    source_one = _client(mlflow_source["url"]).get_model_version(fraud, "1")
    assert one["source"] == source_one.source and one["run_id"] == mlflow_source["run_id"]
    assert one["creation_timestamp"] == source_one.creation_timestamp
    assert {t["key"]: t["value"] for t in one["tags"]} == {"validated": "yes"}
    assert one["description"] == "first one"
    assert three["current_stage"] == "Production"
    missing = http.get(f"{API}/model-versions/get", params={"name": fraud, "version": 2})
    assert missing.status_code == 404  # the gap is kept

    versions = http.get(f"{API}/model-versions/search", params={
        "filter": f"name = '{greet}' AND tags.`mlflow.prompt.is_prompt` = 'true'"}).json()
    texts = {v["version"]: {t["key"]: t["value"] for t in v["tags"]}["mlflow.prompt.text"]
             for v in versions["model_versions"]}
    assert texts == {"1": "Hello {{who}}!", "2": "Hi {{who}}!"}
    assert _imports_in_audit(http, fraud) == 2

    second = _import(mlflow_source["url"], server.url, "--models", f"{prefix}-*")
    assert second.returncode == 0, second.stderr
    assert "imported:   0 models, 0 versions, 0 aliases, 0 model tags" in second.stdout
    tags = re.search(r"imported: .* (\d+) model tags", first.stdout)
    assert tags is not None and int(tags.group(1)) >= 3  # team; the prompt's own tags
    assert (f"unchanged:  2 models, 4 versions, 2 aliases, {tags.group(1)} model tags"
            in second.stdout), second.stdout
    assert _imports_in_audit(http, fraud) == 2

    # A number below the highest imported one is never handed out: the next create gets 4.
    created = http.post(f"{API}/model-versions/create", json={"name": fraud, "source": "s3://b/x"})
    assert created.json()["model_version"]["version"] == "4"
    # ...and the import endpoint refuses to fill the gap.
    refused = http.post(IMPORT, json={"name": fraud, "version": "2", "source": "s3://b/y"})
    assert refused.status_code == 409 and refused.json()["error_code"] == "RESOURCE_CONFLICT"


class _FailingTarget(Rest):
    """The target connection breaks after `allowed` version imports."""

    def __init__(self, url: str, allowed: int) -> None:
        super().__init__(url)
        self.allowed = allowed

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
        if path == IMPORT:
            if self.allowed == 0:
                raise RemoteError(self.url, 0, "UNREACHABLE", "connection reset")
            self.allowed -= 1
        return super().call(method, path, params, body)


def test_an_interrupted_import_is_finished_by_the_next_run(
        mlflow_source: dict[str, Any], server: ServerProcess, http: httpx.Client) -> None:
    prefix = f"cut-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(3)]
    client = _client(mlflow_source["url"])
    for name in names:
        client.create_registered_model(name)
        for _ in range(2):
            _register(mlflow_source, name, mlflow_source["signed"])
        client.set_registered_model_alias(name, "best", "2")

    source = Rest(mlflow_source["url"])
    broken = _FailingTarget(server.url, allowed=3)
    with pytest.raises(RemoteError):
        MlflowImport(source, broken, ImportOptions(f"{prefix}-*")).run()
    # Stopped in the middle of the second model: its first version is there, whole.
    assert _version(http, names[1], 1)["source"] == mlflow_source["signed"].model_uri
    assert http.get(f"{API}/model-versions/get",
                    params={"name": names[1], "version": 2}).status_code == 404

    report = MlflowImport(source, Rest(server.url), ImportOptions(f"{prefix}-*"),
                          NoProgress()).run()
    assert report.count("version", "imported") == 3
    assert report.count("version", "unchanged") == 3
    assert report.count("alias", "imported") == 2  # the first model's was set before the cut
    assert report.listed() == []
    for name in names:
        assert _version(http, name, 2)["aliases"] == ["best"]
    assert sum(_imports_in_audit(http, name) for name in names) == 6


class _CutAfterFirstChunk(NoProgress):
    def __init__(self) -> None:
        self.cut = True

    def copied(self, size: int) -> None:
        if self.cut:
            self.cut = False
            raise RemoteError("test", 0, "UNREACHABLE", "cut in the middle of a file")


def test_into_catalog_copies_files_with_digests_and_lists_unsigned_versions(
        mlflow_source: dict[str, Any], server: ServerProcess, http: httpx.Client) -> None:
    schema = f"imp_{uuid.uuid4().hex[:8]}"
    created = http.post("/api/2.1/unity-catalog/schemas",
                        json={"catalog_name": "main", "name": schema})
    assert created.status_code == 200, created.text
    name = f"Cat-{uuid.uuid4().hex[:6]}"
    client = _client(mlflow_source["url"])
    client.create_registered_model(name, description="in UC")
    _register(mlflow_source, name, mlflow_source["signed"])
    _register(mlflow_source, name, mlflow_source["unsigned"])
    client.set_registered_model_alias(name, "champion", "1")
    full_name = f"main.{schema}.{name.lower()}"

    missing = _import(mlflow_source["url"], server.url, "--into-catalog", "main.nowhere")
    assert missing.returncode == 2
    assert "modelyard schemas create main.nowhere" in missing.stderr, missing.stderr

    source, target = Rest(mlflow_source["url"]), Rest(server.url)
    options = ImportOptions(name, f"main.{schema}")
    with pytest.raises(RemoteError):
        MlflowImport(source, target, options, _CutAfterFirstChunk()).run()
    pending = _version(http, full_name, 1, "/api/2.0/mlflow/unity-catalog")
    assert pending["status"] == "PENDING_REGISTRATION"

    result = subprocess.run(
        [MODELYARD, "import-mlflow", "--from", mlflow_source["url"], "--models", name,
         "--into-catalog", f"main.{schema}", "--url", server.url],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "signature" in result.stdout and f"{full_name}/2" in result.stdout  # listed
    ready = _version(http, full_name, 1, "/api/2.0/mlflow/unity-catalog")
    assert ready["status"] == "READY" and ready["root_digest"]
    assert http.get("/api/2.0/mlflow/unity-catalog/model-versions/get",
                    params={"name": full_name, "version": 2}).status_code == 404
    listing = http.get(f"/api/modelyard/v1/uc/models/{full_name}/versions/1/files").json()
    artifacts = Path(mlflow_source["root"], "artifacts")
    model_dir = next(p.parent for p in artifacts.rglob("MLmodel")
                     if mlflow_source["signed"].model_id in str(p))
    expected = {str(p.relative_to(model_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in model_dir.rglob("*") if p.is_file()}
    assert {f["path"]: f["sha256"] for f in listing["files"]} == expected
    model = http.get("/api/2.0/mlflow/unity-catalog/registered-models/get",
                     params={"name": full_name}).json()["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]

    again = MlflowImport(source, target, options).run()
    assert again.count("version", "imported") == 0
    assert again.count("version", "unchanged") == 1
    assert [e.name for e in again.listed()] == [f"{full_name}/2"]
