"""The trash and legal holds over HTTP (issue 20, item 5), through every client: a delete by
the mlflow client, databricks-sdk or unitycatalog-client moves the model or version to the
trash (gone from every API, its name free at once, its numbers never reused, its files and
grants kept);
the native API, the CLI and the web page list, restore and purge it; a legal hold refuses the
delete with a message naming it; a server with a short retention purges on its own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError, NotFound
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from unitycatalog.client import ApiClient, Configuration, RegisteredModelsApi

from modelyard.cli.main import app
from tests.api.policies.test_enforcement import _uc_model
from tests.api.unity_catalog.conftest import UC, local_path
from tests.support import http_clients
from tests.support.asyncio_thread import run_async
from tests.support.server import ServerProcess

TRASH = "/api/modelyard/v1/trash"
HOLDS = "/api/modelyard/v1/holds"
FILES = "/api/modelyard/v1/uc/models/{name}/versions/{version}/files"


@pytest.fixture()
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with http_clients.Client(base_url=server.url, timeout=30) as client:
        yield client


def _cli(server: ServerProcess, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--url", server.url])
    return result.exit_code, result.output


def _in_trash(http: httpx.Client, name: str) -> set[str | None]:
    items = http.get(TRASH).json()["items"]
    return {item["version"] for item in items if item["name"] == name}


def _audit(http: httpx.Client, name: str) -> list[str]:
    events = http.get("/api/modelyard/v1/audit", params={"object": name}).json()["events"]
    return [event["action"] for event in events]


def _files(http: httpx.Client, full_name: str, version: int) -> Any:
    response = http.get(FILES.format(name=full_name, version=version))
    assert response.status_code == 200, response.text
    return response.json()


def test_workspace_delete_restore_and_name_reuse(server: ServerProcess,
                                                 http: httpx.Client) -> None:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    name = f"trash-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name, tags={"team": "fraud"})
    for i in (1, 2):
        client.create_model_version(name, f"s3://bucket/m{i}", tags={"n": str(i)})
    client.set_registered_model_alias(name, "champion", "2")

    client.delete_model_version(name, "2")
    with pytest.raises(MlflowException) as missing:
        client.get_model_version(name, "2")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.create_model_version(name, "s3://bucket/m3").version == "3"
    assert _in_trash(http, name) == {"2"}
    code, output = _cli(server, "trash", "list")
    assert code == 0 and f"{name}/2" in output
    code, output = _cli(server, "trash", "restore", f"{name}/2")
    assert code == 0, output
    restored = client.get_model_version(name, "2")
    assert restored.tags == {"n": "2"} and restored.aliases == ["champion"]

    client.delete_registered_model(name)
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model(name)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert not client.search_registered_models(f"name = '{name}'")
    assert not client.search_model_versions(f"name = '{name}'")
    client.create_registered_model(name)  # the name is free at once
    refused = http.post(f"{TRASH}/restore", json={"name": name})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert "the name was reused" in refused.json()["message"]
    client.rename_registered_model(name, f"{name}-new")

    assert http.post(f"{TRASH}/restore", json={"name": name}).status_code == 200
    model = client.get_registered_model(name)
    assert model.tags == {"team": "fraud"} and model.aliases == {"champion": "2"}
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]
    assert {"registered_model.delete", "registered_model.restore"} <= set(_audit(http, name))


def test_a_held_version_cannot_be_deleted(server: ServerProcess, http: httpx.Client) -> None:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    sdk = WorkspaceClient(host=server.url, token="dapi-modelyard-test")
    name = f"held-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/m1")
    no_reason = http.post(HOLDS, json={"name": name, "version": "1"})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["message"]
    code, output = _cli(server, "holds", "set", f"{name}/1", "--reason", "case 42")
    assert code == 0, output
    assert any(h["name"] == name and h["version"] == "1" and h["reason"] == "case 42"
               for h in http.get(HOLDS).json()["holds"])

    with pytest.raises(DatabricksError) as refused:
        sdk.model_registry.delete_model_version(name, "1")
    assert "legal hold" in str(refused.value) and "case 42" in str(refused.value)
    assert f"modelyard holds release {name}/1" in str(refused.value)
    with pytest.raises(MlflowException) as refused_model:  # its model too
        client.delete_registered_model(name)
    assert "legal hold" in refused_model.value.message
    assert client.get_model_version(name, "1").version == "1"

    code, output = _cli(server, "holds", "release", f"{name}/1")
    assert code == 0, output
    sdk.model_registry.delete_model_version(name, "1")
    purged = http.post(f"{TRASH}/purge", json={"name": name, "version": "1"})
    assert purged.status_code == 200, purged.text
    assert _in_trash(http, name) == set()
    actions = _audit(http, f"{name}/1")
    assert {"legal_hold.set", "legal_hold.release", "denied.model_version.delete",
            "model_version.delete", "model_version.purge"} <= set(actions)


def _uc_oss_delete_model(server: ServerProcess, full_name: str) -> None:
    async def call() -> None:
        async with ApiClient(Configuration(host=server.url + UC)) as api:
            await RegisteredModelsApi(api).delete_registered_model(full_name, force=True)
    run_async(call())


def test_uc_every_client_restore_files_equal_and_purge(
        server: ServerProcess, http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    full_name, (first, second) = _uc_model(http)
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-modelyard-test")
    databricks_uc = MlflowClient(tracking_uri=server.url, registry_uri="databricks-uc")
    sdk = WorkspaceClient(host=server.url, token="dapi-modelyard-test")
    sdk.registered_models.set_alias(full_name, "champion", first)
    files = {v: _files(http, full_name, v) for v in (first, second)}
    locations = {v: local_path(sdk.model_versions.get(full_name, v).storage_location)
                 for v in (first, second)}
    grants = f"{UC}/permissions/function/{full_name}"
    granted = http.patch(grants, json={"changes": [{"principal": "users", "add": ["EXECUTE"]}]})
    assert granted.status_code == 200, granted.text

    databricks_uc.delete_model_version(full_name, str(second))
    with pytest.raises(NotFound):
        sdk.model_versions.get(full_name, second)
    assert locations[second].exists()
    assert http.post(f"{TRASH}/restore", json={"name": full_name, "version": second}
                     ).status_code == 200
    assert _files(http, full_name, second) == files[second]

    assert http.post(HOLDS, json={"name": full_name, "reason": "audit"}).status_code == 200
    with pytest.raises(DatabricksError, match="legal hold"):
        sdk.registered_models.delete(full_name)
    assert http.request("DELETE", HOLDS, json={"name": full_name}).status_code == 200

    _uc_oss_delete_model(server, full_name)
    with pytest.raises(NotFound):
        sdk.registered_models.get(full_name)
    catalog, schema, model = full_name.split(".")
    reused = http.post(f"{UC}/models", json={"catalog_name": catalog, "schema_name": schema,
                                            "name": model})
    assert reused.status_code == 200, reused.text
    assert http.get(grants).json().get("privilege_assignments", []) == []  # not inherited
    refused = http.post(f"{TRASH}/restore", json={"name": full_name})
    assert refused.status_code == 400 and "the name was reused" in refused.json()["message"]
    sdk.registered_models.delete(full_name)  # the new one goes to the trash too
    code, output = _cli(server, "trash", "purge", full_name, "--yes")  # the newest: the new
    assert code == 0, output

    code, output = _cli(server, "trash", "restore", full_name)
    assert code == 0, output
    assert sdk.model_versions.get_by_alias(full_name, "champion").version == first
    assert http.get(grants).json()["privilege_assignments"] == [  # the grants came back
        {"principal": "users", "privileges": ["EXECUTE"]}]
    for version in (first, second):
        assert _files(http, full_name, version) == files[version]
        assert locations[version].exists()

    databricks_uc.delete_registered_model(full_name)
    assert locations[first].exists()
    purged = http.post(f"{TRASH}/purge", json={"name": full_name}).json()["purged"]
    assert {p["name"] for p in purged} == {full_name}
    assert not locations[first].exists() and not locations[second].exists()
    assert "registered_model.purge" in _audit(http, full_name)


def test_trash_page_lists_and_restores(server: ServerProcess, http: httpx.Client) -> None:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    name = f"page-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    client.delete_registered_model(name)
    listed = http.get("/trash")
    assert listed.status_code == 200 and name in listed.text
    restored = http.post("/trash/restore", data={"name": name, "version": "",
                                                 "registry": "workspace"},
                         headers={"Origin": server.url}, follow_redirects=False)
    assert restored.status_code == 303, restored.text
    assert client.get_registered_model(name).name == name
    assert name not in http.get("/trash").text


# ---- expiry: one server of this module with a short retention and a quick sweep -------------

@pytest.fixture(scope="module")
def short_retention(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("trash-expiry"), extra_args=[
        "--retention-days", "0.00003",  # about 2.6 s
        "--trash-sweep-interval", "0.3"]).start()
    try:
        yield process
    finally:
        process.stop()


def _gone(path: Path, http: httpx.Client, name: str, deadline: float = 60.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not path.exists() and not _in_trash(http, name):
            return True
        time.sleep(0.2)
    return False


def test_expired_items_are_purged_with_their_files(short_retention: ServerProcess) -> None:
    with http_clients.Client(base_url=short_retention.url, timeout=30) as http:
        full_name, (first, _) = _uc_model(http)
        location = local_path(http.get(f"{UC}/models/{full_name}/versions/{first}")
                              .json()["storage_location"])
        assert http.delete(f"{UC}/models/{full_name}").status_code == 200
        client = MlflowClient(tracking_uri=short_retention.url,
                              registry_uri=short_retention.url)
        name = f"expiring-{uuid.uuid4().hex[:8]}"
        client.create_registered_model(name)
        client.create_model_version(name, "s3://bucket/m1")
        client.delete_registered_model(name)
        assert _gone(location, http, full_name)
        assert _gone(location, http, name)
        client.create_registered_model(name)  # nothing of the purged one is in the way
        assert client.create_model_version(name, "s3://bucket/m1").version == "1"
        purge = http.get("/api/modelyard/v1/audit", params={
            "object": full_name, "action": "registered_model.purge"}).json()["events"]
        assert purge and purge[0]["actor"] == "system" and purge[0]["after"] == {
            "expired": True}
