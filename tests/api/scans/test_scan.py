"""The model scan over HTTP (api/scans/routes.py, services/scanning.py): a Unity Catalog
version whose pickle runs `os.system` on load is UNSAFE with a finding naming the call; the
README quickstart's pyfunc model and an sklearn model are not; a policy requiring
`scan = 'CLEAN'` blocks @champion for the unsafe one through the mlflow client; the CLI's
`versions scan`; and a server with `--scan-mode reject`, where the unsafe version never becomes
READY. The pickles that would run a command are written, never loaded."""

from __future__ import annotations

import os
import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from modelyard.cli.main import app
from tests.api.unity_catalog.conftest import UC, local_path
from tests.support import http_clients
from tests.support.quickstart_model import quickstart_model
from tests.support.server import ServerProcess
from tests.support.uc_models import REQUIREMENTS, SIGNED_MLMODEL, signature

SCAN = "/api/modelyard/v1/models/{name}/versions/{version}/scan"
POLICIES = "/api/modelyard/v1/policies"




class RunsCommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


@pytest.fixture()
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with http_clients.Client(base_url=server.url, timeout=60) as client:
        yield client


def _model(http: httpx.Client) -> str:
    schema = f"s_{uuid.uuid4().hex[:8]}"
    assert http.post(f"{UC}/schemas", json={"catalog_name": "main", "name": schema}) \
        .status_code == 200
    assert http.post(f"{UC}/models", json={"catalog_name": "main", "schema_name": schema,
                                           "name": "m"}).status_code == 200
    return f"main.{schema}.m"


def _register(http: httpx.Client, full_name: str, files: dict[str, bytes]) -> \
        tuple[int, httpx.Response]:
    """A version with these files (written where a `uc:` client on this host writes them),
    finalized through the UC REST API; its number and the finalize answer."""
    catalog, schema, name = full_name.split(".")
    created = http.post(f"{UC}/models/versions", json={
        "catalog_name": catalog, "schema_name": schema, "model_name": name,
        "source": "s3://bucket/m"}).json()
    directory = local_path(created["storage_location"])
    (directory / "MLmodel").write_text(SIGNED_MLMODEL)
    for path, data in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)
    done = http.patch(f"{UC}/models/{full_name}/versions/{created['version']}/finalize",
                      json={"full_name": full_name, "version": created["version"]})
    return int(created["version"]), done


def _saved(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in directory.rglob("*") if p.is_file() and p.name != "MLmodel"}


def _quickstart(tmp_path: Path) -> dict[str, bytes]:
    """The README quickstart's model, its class defined in the user's script (__main__):
    cloudpickle saves it by value, code included."""
    mlflow.pyfunc.save_model(str(tmp_path / "quickstart"), python_model=quickstart_model(),
                             signature=signature(), pip_requirements=REQUIREMENTS)
    return _saved(tmp_path / "quickstart")


def test_unsafe_pickle_is_flagged_and_a_scan_policy_blocks_champion(
        server: ServerProcess, http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    full_name = _model(http)
    unsafe, done = _register(http, full_name, {"model.pkl": pickle.dumps(RunsCommand())})
    # --scan-mode flag (the default): READY, marked UNSAFE.
    assert done.status_code == 200 and done.json()["status"] == "READY", done.text
    answer = http.get(SCAN.format(name=full_name, version=unsafe))
    assert answer.status_code == 200, answer.text
    scan = answer.json()["scan"]
    assert scan["status"] == "UNSAFE"
    critical = [f for f in scan["findings"] if f["severity"] == "CRITICAL"]
    assert [(f["call"], f["file"]) for f in critical] == [("posix.system", "model.pkl")]
    clean, _ = _register(http, full_name, {"model.pkl": pickle.dumps({"weights": [1, 2]})})
    assert http.get(SCAN.format(name=full_name, version=clean)).json()["scan"]["status"] \
        == "CLEAN"

    rule = f"p-{uuid.uuid4().hex[:8]}"
    created = http.post(POLICIES, json={"name": rule, "scope": full_name, "alias": "champion",
                                        "require": "scan = 'CLEAN'"})
    assert created.status_code == 200, created.text
    try:
        monkeypatch.setenv("DATABRICKS_HOST", server.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-modelyard-test")
        client = MlflowClient(tracking_uri=server.url, registry_uri="databricks-uc")
        with pytest.raises(MlflowException) as refused:
            client.set_registered_model_alias(full_name, "champion", unsafe)
        assert f"Policy '{rule}'" in str(refused.value)
        assert "scan = 'CLEAN' (scan is 'UNSAFE')" in str(refused.value)
        client.set_registered_model_alias(full_name, "champion", clean)
        assert client.get_model_version_by_alias(full_name, "champion").version == str(clean)
    finally:
        http.delete(f"{POLICIES}/{rule}")
    # The scan is in the audit trail.
    audit = http.get("/api/modelyard/v1/audit", params={
        "action": "model_version.scan", "object_name": f"{full_name}/{unsafe}"})
    assert audit.status_code == 200, audit.text
    assert "posix.system" in audit.text


def test_mlflow_standard_flavors_are_not_unsafe(http: httpx.Client, tmp_path: Path) -> None:
    full_name = _model(http)
    x, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    estimator = LogisticRegression().fit(x, y)
    mlflow.sklearn.save_model(estimator, str(tmp_path / "sklearn"), serialization_format="pickle",
                              pip_requirements=["scikit-learn"])
    for label, files in (("quickstart pyfunc", _quickstart(tmp_path)),
                         ("sklearn", _saved(tmp_path / "sklearn"))):
        number, done = _register(http, full_name, files)
        assert done.status_code == 200, done.text
        scan = http.get(SCAN.format(name=full_name, version=number)).json()["scan"]
        assert scan["status"] == "CLEAN", (label, scan)
        assert not [f for f in scan["findings"] if f["severity"] in ("CRITICAL", "HIGH")]
        if label == "quickstart pyfunc":  # what the scanner says of cloudpickle, graded
            assert {f["severity"] for f in scan["findings"]} >= {"MEDIUM"}


def test_cli_scans_again_and_exits_1_when_unsafe(server: ServerProcess,
                                                 http: httpx.Client) -> None:
    full_name = _model(http)
    unsafe, _ = _register(http, full_name, {"model.pkl": pickle.dumps(RunsCommand())})
    runner = CliRunner()
    result = runner.invoke(app, ["versions", "scan", full_name, str(unsafe), "--url",
                                 server.url])
    assert result.exit_code == 1, result.output
    assert "UNSAFE" in result.output and "posix.system" in result.output
    clean, _ = _register(http, full_name, {"weights.pkl": pickle.dumps([1.0, 2.0])})
    result = runner.invoke(app, ["versions", "scan", full_name, str(clean), "--stored",
                                 "--url", server.url])
    assert result.exit_code == 0 and "CLEAN" in result.output, result.output
    # Refusals are the API's, in its format.
    missing = http.post(SCAN.format(name=full_name, version=99))
    assert missing.status_code == 404 and missing.json()["error_code"]


@pytest.fixture(scope="module")
def rejecting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for this module with --scan-mode reject (SQLite)."""
    process = ServerProcess(tmp_path_factory.mktemp("server-scan-reject"),
                            extra_args=["--scan-mode", "reject"]).start()
    try:
        yield process
    finally:
        process.stop()


def test_reject_mode_never_makes_an_unsafe_version_ready(rejecting: ServerProcess,
                                                         tmp_path: Path) -> None:
    with http_clients.Client(base_url=rejecting.url, timeout=60) as http:
        full_name = _model(http)
        number, done = _register(http, full_name, {"model.pkl": pickle.dumps(RunsCommand())})
        assert done.status_code == 400, done.text
        assert "posix.system" in done.json()["message"]
        version = http.get(f"{UC}/models/{full_name}/versions/{number}").json()
        assert version["status"] == "FAILED_REGISTRATION"
        assert "CRITICAL posix.system in model.pkl" in version["status_message"]
        assert http.get(SCAN.format(name=full_name, version=number)).json()["scan"][
            "status"] == "UNSAFE"
        # The quickstart model is not refused.
        _, done = _register(http, full_name, _quickstart(tmp_path))
        assert done.status_code == 200 and done.json()["status"] == "READY", done.text
