"""Issue 17, item 2: one signature rule for every path that creates or finalizes a Unity
Catalog version (`modelyard versions create`, mlflow with `uc:http://…`, unitycatalog-client's
finalize; databricks-uc and copies are in their own tests), with the message the databricks-uc
path gives; `--no-uc-require-signature` turns it off for the whole metastore."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from unitycatalog.client import ApiClient, Configuration, ModelVersionsApi
from unitycatalog.client.exceptions import BadRequestException
from unitycatalog.client.models import CreateModelVersion, FinalizeModelVersion

from tests.api.unity_catalog.conftest import UC, local_path
from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.asyncio_thread import run_async
from tests.support.server import MODELYARD, ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL, AddN

MESSAGE = ("Model passed for registration did not contain any signature metadata. All models in "
           "the Unity Catalog must be logged with a model signature")


@pytest.fixture(scope="module")
def lenient_server(engine: str, pg_available: bool,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of a deployment that turned the rule off."""
    for url in database_url_for(engine, pg_available):
        process = ServerProcess(tmp_path_factory.mktemp(f"lenient-{engine}"), url,
                                extra_args=["--no-uc-require-signature"]).start()
        try:
            yield process
        finally:
            process.stop()


def model_dir(tmp: Path, n: int, with_signature: bool = True) -> Path:
    """A model directory as the server sees it: what it checks is the MLmodel file (saving a
    real model infers its requirements in a subprocess, many seconds each)."""
    path = tmp / f"model-{n}"
    path.mkdir()
    (path / "MLmodel").write_text(SIGNED_MLMODEL if with_signature else "flavors: {}\n")
    (path / "weights.bin").write_bytes(bytes([n]) * 64)
    return path


def _schema(url: str) -> str:
    name = f"sig_{uuid.uuid4().hex[:8]}"
    with http_clients.Client(base_url=url + UC) as uc:
        assert uc.post("/schemas", json={"catalog_name": "main", "name": name}).is_success
        assert uc.post("/models", json={"catalog_name": "main", "schema_name": name,
                                        "name": "m"}).is_success
    return f"main.{name}.m"


def _cli_create(url: str, name: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MODELYARD, "versions", "create", name, str(directory), "--url", url],
                          capture_output=True, text=True, timeout=120)


def _status(url: str, name: str, version: int) -> str:
    found = http_clients.get(f"{url}{UC}/models/{name}/versions/{version}").json()
    status: str = found["status"]
    return status


def test_cli_refuses_a_model_without_signature(server: ServerProcess, tmp_path: Path) -> None:
    name = _schema(server.url)
    unsigned = model_dir(tmp_path, 1, with_signature=False)
    refused = _cli_create(server.url, name, unsigned)
    assert refused.returncode == 1
    assert MESSAGE in refused.stderr
    assert _status(server.url, name, 1) == "FAILED_REGISTRATION"
    signed = _cli_create(server.url, name, model_dir(tmp_path, 2))
    assert signed.returncode == 0, signed.stderr
    assert _status(server.url, name, 2) == "READY"


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """One local tracking store for the module (making one runs MLflow's migrations)."""
    root = tmp_path_factory.mktemp("signature-tracking")
    uri = f"sqlite:///{root / 'tracking.db'}"
    mlflow.set_tracking_uri(uri)
    return uri, mlflow.create_experiment("signature", artifact_location=str(root / "runs"))


@pytest.fixture()
def uc_oss(tracking: tuple[str, str]) -> Iterator[None]:
    mlflow.set_tracking_uri(tracking[0])
    mlflow.set_experiment(experiment_id=tracking[1])
    yield
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


def _log_unsigned(name: str) -> None:
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=AddN(1), registered_model_name=name,
                                pip_requirements=["pandas"])


def test_uc_registry_uri_refuses_a_model_without_signature(server: ServerProcess,
                                                             uc_oss: None) -> None:
    name = _schema(server.url)
    mlflow.set_registry_uri(f"uc:{server.url}")
    with pytest.raises(MlflowException, match=MESSAGE):
        _log_unsigned(name)
    assert _status(server.url, name, 1) == "FAILED_REGISTRATION"


def test_unitycatalog_client_finalize_checks_the_signature(server: ServerProcess,
                                                          tmp_path: Path) -> None:
    name = _schema(server.url)
    catalog, schema, model = name.split(".")
    unsigned = model_dir(tmp_path, 3, with_signature=False)

    async def scenario() -> None:
        async with ApiClient(Configuration(host=server.url + UC)) as api:
            versions = ModelVersionsApi(api)
            pending = await versions.create_model_version(CreateModelVersion(
                catalog_name=catalog, schema_name=schema, model_name=model,
                source=unsigned.as_uri()))
            target = local_path(pending.storage_location or "")
            for file in unsigned.rglob("*"):
                if file.is_file():
                    destination = target / file.relative_to(unsigned)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    destination.write_bytes(file.read_bytes())
            with pytest.raises(BadRequestException, match="signature metadata"):
                await versions.finalize_model_version(
                    full_name=name, version=pending.version or 0,
                    finalize_model_version=FinalizeModelVersion(full_name=name,
                                                                 version=pending.version or 0))

    run_async(scenario())
    assert _status(server.url, name, 1) == "FAILED_REGISTRATION"


def test_the_rule_can_be_turned_off(lenient_server: ServerProcess, tmp_path: Path,
                                    uc_oss: None) -> None:
    name = _schema(lenient_server.url)
    accepted = _cli_create(lenient_server.url, name,
                           model_dir(tmp_path, 4, with_signature=False))
    assert accepted.returncode == 0, accepted.stderr
    assert _status(lenient_server.url, name, 1) == "READY"
    mlflow.set_registry_uri(f"uc:{lenient_server.url}")
    _log_unsigned(name)
    assert _status(lenient_server.url, name, 2) == "READY"
