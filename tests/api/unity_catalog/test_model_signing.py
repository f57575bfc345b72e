"""Issue 20 item 4, through the real clients: model directories signed with the OpenSSF
`model_signing` library, registered with mlflow (`uc:` registry URI), the Files API's signed
upload URLs (as the databricks-uc client uploads) and `modelyard versions create`, against one
server (per engine) started with `--trusted-signers`. The verdict is in the native API, on the
version page and in the audit trail, and a policy requiring `signed = 'true'` guards @champion.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.api.unity_catalog.conftest import UC
from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.cli import run_cli
from tests.support.model_signing import KeyPair, key_pair, model_dir, sign_with_key
from tests.support.server import ServerProcess
from tests.support.uc_models import (
    AddN,
    create_pending_version,
    finalize,
    predict,
    signature,
    upload_dir,
)

SIGNING = "/api/modelyard/v1/models/{name}/versions/{version}/signing"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair]:
    """(trusted, other): the server trusts the first one's public key only."""
    directory = tmp_path_factory.mktemp("signing-keys")
    return key_pair(directory, "release"), key_pair(directory, "someone-else")


@pytest.fixture(scope="module")
def signing_server(engine: str, pg_available: bool, keys: tuple[KeyPair, KeyPair],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    for url in database_url_for(engine, pg_available):
        process = ServerProcess(tmp_path_factory.mktemp(f"signing-{engine}"), url,
                                extra_args=["--trusted-signers", str(keys[0].public)]).start()
        try:
            yield process
        finally:
            process.stop()


@pytest.fixture()
def http(signing_server: ServerProcess) -> Iterator[httpx.Client]:
    with http_clients.Client(base_url=signing_server.url, timeout=60) as client:
        yield client


@pytest.fixture()
def model_name(http: httpx.Client) -> str:
    schema = f"sig_{uuid.uuid4().hex[:8]}"
    assert http.post(f"{UC}/schemas", json={"catalog_name": "main", "name": schema}).is_success
    return f"main.{schema}.m"


@pytest.fixture()
def uc_mlflow(signing_server: ServerProcess, tmp_path: Path) -> Iterator[MlflowClient]:
    tracking_uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    registry_uri = f"uc:{signing_server.url}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)
    yield MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


@pytest.fixture()
def databricks_uc(signing_server: ServerProcess,
                  monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """mlflow with registry URI `databricks-uc`: what moves aliases (the `uc:` store does not)."""
    monkeypatch.setenv("DATABRICKS_HOST", signing_server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-modelyard-test")
    return MlflowClient(tracking_uri=signing_server.url, registry_uri="databricks-uc")


def _signing(http: httpx.Client, name: str, version: int | str) -> dict[str, object]:
    answer = http.get(SIGNING.format(name=name, version=version))
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _champion_policy(http: httpx.Client, name: str) -> str:
    policy = f"signed-{uuid.uuid4().hex[:6]}"
    created = http.post("/api/modelyard/v1/policies", json={
        "name": policy, "scope": name, "alias": "champion", "require": "signed = 'true'"})
    assert created.status_code == 200, created.text
    return policy


def _upload(http: httpx.Client, name: str, directory: Path) -> str:
    """A version with `directory`'s files, through signed upload URLs, finalized."""
    version = create_pending_version(http, name)
    upload_dir(http, name, version, directory)
    answer = finalize(http, name, version)
    assert answer.status_code == 200, answer.text
    return version


def test_mlflow_registers_a_signed_model_and_champion_may_move(
        http: httpx.Client, uc_mlflow: MlflowClient, databricks_uc: MlflowClient,
        model_name: str, keys: tuple[KeyPair, KeyPair], tmp_path: Path) -> None:
    # The user's side: save the model, sign the directory, register it.
    directory = tmp_path / "model"
    mlflow.pyfunc.save_model(str(directory), python_model=AddN(2), signature=signature(),
                             pip_requirements=["pandas"])
    sign_with_key(directory, keys[0])
    version = mlflow.register_model(str(directory), model_name).version

    verdict = _signing(http, model_name, version)
    assert verdict["signed"] is True and verdict["status"] == "VERIFIED"
    assert str(verdict["signer"]).startswith("key sha256:")
    assert predict(f"models:/{model_name}/{version}") == [3, 4, 5]

    policy = _champion_policy(http, model_name)
    databricks_uc.set_registered_model_alias(model_name, "champion", version)
    assert databricks_uc.get_model_version_by_alias(model_name, "champion").version == \
        str(version)
    http.delete(f"/api/modelyard/v1/policies/{policy}")


def test_another_signer_or_a_changed_file_is_not_signed(
        http: httpx.Client, databricks_uc: MlflowClient, model_name: str,
        keys: tuple[KeyPair, KeyPair], tmp_path: Path) -> None:
    other = model_dir(tmp_path / "other")
    sign_with_key(other, keys[1])
    untrusted = _upload(http, model_name, other)
    verdict = _signing(http, model_name, untrusted)
    assert verdict["signed"] is False and verdict["status"] == "UNTRUSTED_SIGNER"
    assert "not a trusted signer" in str(verdict["detail"])

    tampered = model_dir(tmp_path / "tampered")
    sign_with_key(tampered, keys[0])
    (tampered / "data" / "weights.bin").write_bytes(b"\x07" * 64)  # after signing
    changed = _upload(http, model_name, tampered)
    verdict = _signing(http, model_name, changed)
    assert verdict["signed"] is False and verdict["status"] == "FILES_MISMATCH"
    assert "'data/weights.bin' was changed after signing" in str(verdict["detail"])

    # Neither may become @champion where a policy requires a signed version: the mlflow
    # client raises at once, naming the policy.
    policy = _champion_policy(http, model_name)
    for version in (untrusted, changed):
        with pytest.raises(MlflowException, match=f"Policy '{policy}'.*signed = 'true'"):
            databricks_uc.set_registered_model_alias(model_name, "champion", version)
    http.delete(f"/api/modelyard/v1/policies/{policy}")


def test_unsigned_model_shows_why_on_the_page_and_in_the_audit_trail(
        signing_server: ServerProcess, http: httpx.Client, model_name: str,
        keys: tuple[KeyPair, KeyPair], tmp_path: Path) -> None:
    assert http.post(f"{UC}/models", json={"catalog_name": model_name.split(".")[0],
                                           "schema_name": model_name.split(".")[1],
                                           "name": "m"}).is_success
    registered = run_cli("versions", "create", model_name, str(model_dir(tmp_path / "plain")),
                         url=signing_server.url).stdout
    # This server trusts a signer: registering says the version is not signed, and how to
    # read why (its scan is CLEAN, so nothing is said of it).
    assert registered.startswith(f"Registered {model_name} version 1 (READY, root digest ")
    assert registered.rstrip().endswith(
        f"…); signing UNSIGNED: modelyard versions signing {model_name} 1"), registered
    verdict = _signing(http, model_name, 1)
    assert verdict["signed"] is False and verdict["status"] == "UNSIGNED"
    assert "has no model.sig" in str(verdict["detail"])
    assert verdict["trusted_signers"] == 1
    # A version signed by the trusted key: nothing to say.
    signed = model_dir(tmp_path / "signed")
    sign_with_key(signed, keys[0])
    registered = run_cli("versions", "create", model_name, str(signed),
                         url=signing_server.url).stdout
    assert registered.rstrip().endswith("…)") and "signing" not in registered, registered
    assert _signing(http, model_name, 2)["status"] == "VERIFIED"

    catalog, schema, model = model_name.split(".")
    page = http.get(f"/catalogs/{catalog}/{schema}/{model}/versions/1")
    assert page.status_code == 200
    assert 'id="model-signing" data-status="UNSIGNED"' in page.text
    assert "not signed" in page.text and "has no model.sig" in page.text

    shown = run_cli("versions", "signing", model_name, "1", url=signing_server.url).stdout
    assert "UNSIGNED" in shown and "has no model.sig" in shown
    # Verified again (after a change of --trusted-signers, say): the same verdict, audited again.
    again = run_cli("versions", "signing", model_name, "1", "--verify",
                    url=signing_server.url).stdout
    assert "UNSIGNED" in again

    audit = http.get("/api/modelyard/v1/audit", params={
        "action": "model_version.verify_signing", "object": f"{model_name}/1"}).json()
    assert [e["after"]["status"] for e in audit["events"]] == ["UNSIGNED", "UNSIGNED"]


def test_signing_of_what_does_not_exist_is_a_404(http: httpx.Client, model_name: str) -> None:
    missing = http.get(SIGNING.format(name=model_name, version=1))
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    bad = http.get(SIGNING.format(name=model_name, version="one"))
    assert bad.status_code == 400 and "version" in bad.json()["message"]
