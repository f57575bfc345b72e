"""A policy on @champion requiring `tags.validation = 'passed'`, enforced over HTTP on every
surface of both registries: the mlflow client (workspace and databricks-uc), databricks-sdk,
unitycatalog-client, the CLI; a stage policy on Production for the workspace's transitions.
Each refusal is a 400 in the dialect's format naming the policy and the failed comparison, and
the mlflow client raises at once (no retry)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from unitycatalog.client import ApiClient, Configuration
from unitycatalog.client.exceptions import BadRequestException

from modelyard.cli.main import app
from tests.api.unity_catalog.conftest import UC, local_path
from tests.support import http_clients
from tests.support.asyncio_thread import run_async
from tests.support.server import ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL

POLICIES = "/api/modelyard/v1/policies"
REQUIRE = "tags.validation = 'passed'"
#: The mlflow client retries 5xx and 429 for minutes; a refusal must come back at once.
AT_ONCE = 5.0


@pytest.fixture()
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with http_clients.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture()
def policy(http: httpx.Client) -> Iterator[list[str]]:
    """Names of policies a test created; deleted afterwards (policies are server-wide)."""
    made: list[str] = []
    yield made
    for name in made:
        http.delete(f"{POLICIES}/{name}")


def _create_policy(http: httpx.Client, made: list[str], scope: str, **guard: object) -> str:
    name = f"p-{uuid.uuid4().hex[:8]}"
    response = http.post(POLICIES, json={"name": name, "scope": scope, "require": REQUIRE,
                                         **guard})
    assert response.status_code == 200, response.text
    made.append(name)
    return name


def _refused_at_once(call: object, error: type[Exception], policy: str) -> Exception:
    started = time.monotonic()
    with pytest.raises(error) as refused:
        call()  # type: ignore[operator]
    assert time.monotonic() - started < AT_ONCE
    assert f"Policy '{policy}'" in str(refused.value)
    assert "tags.validation = 'passed' (tags.validation is not set)" in str(refused.value)
    return refused.value


def _cli(server: ServerProcess, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--url", server.url])
    return result.exit_code, result.output


def test_policy_api_lists_validates_and_audits(http: httpx.Client,
                                               policy: list[str]) -> None:
    name = _create_policy(http, policy, "workspace:nothing-here", alias="prod-*",
                          approvals=0)
    listed = http.get(POLICIES).json()["policies"]
    assert {"name": name, "scope": "workspace:nothing-here", "alias": "prod-*", "stage": None,
            "require": REQUIRE, "approvals": 0} .items() <= next(
        p for p in listed if p["name"] == name).items()
    bad = http.post(POLICIES, json={"name": "x", "scope": "*", "alias": "a",
                                    "require": "nope = 1"})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Invalid attribute key 'nope'" in bad.json()["message"]
    again = http.post(POLICIES, json={"name": name, "scope": "*", "alias": "a",
                                      "require": REQUIRE})
    assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert http.delete(f"{POLICIES}/{name}").status_code == 200
    policy.remove(name)
    assert http.get(f"{POLICIES}/{name}").status_code == 404
    audit = http.get("/api/modelyard/v1/audit", params={"object": name}).json()["events"]
    assert [e["action"] for e in audit] == ["policy.create", "policy.delete"]


def test_workspace_alias_policy_mlflow_and_cli(server: ServerProcess, http: httpx.Client,
                                               policy: list[str]) -> None:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    name = f"pol-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/m1")
    client.create_model_version(name, "s3://bucket/m2")
    rule = _create_policy(http, policy, f"workspace:{name}", alias="champion")

    refused = _refused_at_once(lambda: client.set_registered_model_alias(name, "champion", "1"),
                               MlflowException, rule)
    assert refused.error_code == "BAD_REQUEST"  # type: ignore[attr-defined]
    code, output = _cli(server, "aliases", "set", f"{name}@champion", "2")
    assert code == 1 and f"Policy '{rule}'" in output and "tags.validation" in output

    client.set_model_version_tag(name, "1", "validation", "passed")
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    client.set_model_version_tag(name, "2", "validation", "passed")
    assert _cli(server, "aliases", "set", f"{name}@champion", "2")[0] == 0
    assert client.get_model_version_by_alias(name, "champion").version == "2"


def test_workspace_stage_policy_mlflow_and_databricks_sdk(server: ServerProcess,
                                                          http: httpx.Client,
                                                          policy: list[str]) -> None:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    sdk = WorkspaceClient(host=server.url, token="dapi-modelyard-test")
    name = f"pol-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/m1")
    rule = _create_policy(http, policy, f"workspace:{name}", stage="Production")

    _refused_at_once(lambda: client.transition_model_version_stage(name, "1", "Production"),
                     MlflowException, rule)
    _refused_at_once(lambda: sdk.model_registry.transition_stage(name, "1",
                                                                 "Production", False),
                     DatabricksError, rule)
    # An approved transition request is a stage change too.
    sdk.model_registry.create_transition_request(name, "1", "Production")
    _refused_at_once(lambda: sdk.model_registry.approve_transition_request(
        name, "1", "Production", False), DatabricksError, rule)
    assert client.get_model_version(name, "1").current_stage == "None"

    client.set_model_version_tag(name, "1", "validation", "passed")
    sdk.model_registry.approve_transition_request(name, "1", "Production", False)
    assert client.get_model_version(name, "1").current_stage == "Production"


def _uc_model(http: httpx.Client) -> tuple[str, list[int]]:
    """A Unity Catalog model in a fresh schema with two READY versions."""
    schema = f"s_{uuid.uuid4().hex[:8]}"
    assert http.post(f"{UC}/schemas", json={"catalog_name": "main", "name": schema}) \
        .status_code == 200
    assert http.post(f"{UC}/models", json={"catalog_name": "main", "schema_name": schema,
                                           "name": "m"}).status_code == 200
    full_name = f"main.{schema}.m"
    versions = []
    for _ in range(2):
        created = http.post(f"{UC}/models/versions", json={
            "catalog_name": "main", "schema_name": schema, "model_name": "m",
            "source": "s3://bucket/m"}).json()
        (local_path(created["storage_location"]) / "MLmodel").write_text(SIGNED_MLMODEL)
        done = http.patch(f"{UC}/models/{full_name}/versions/{created['version']}/finalize",
                          json={"full_name": full_name, "version": created["version"]})
        assert done.status_code == 200, done.text
        versions.append(int(created["version"]))
    return full_name, versions


def _tag(http: httpx.Client, full_name: str, version: int) -> None:
    response = http.post("/api/2.0/mlflow/unity-catalog/model-versions/set-tag", json={
        "name": full_name, "version": str(version), "key": "validation", "value": "passed"})
    assert response.status_code == 200, response.text


def _uc_oss_set_alias(server: ServerProcess, full_name: str, alias: str, version: int) -> None:
    """unitycatalog-client 0.7.0 has no alias method: its own ApiClient sends UC OSS's
    `PUT /models/{full_name}/aliases/{alias}` and raises its own exceptions."""
    async def call() -> None:
        async with ApiClient(Configuration(host=server.url + UC)) as api:
            request = api.param_serialize("PUT", "/models/{full_name}/aliases/{alias}",
                                          path_params={"full_name": full_name, "alias": alias},
                                          header_params={"Content-Type": "application/json"},
                                          body={"version_num": version})
            response = await api.call_api(*request)
            await response.read()
            api.response_deserialize(response, {"200": "object"})

    run_async(call())


def test_uc_alias_policy_every_client(server: ServerProcess, http: httpx.Client,
                                      policy: list[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    full_name, (first, second) = _uc_model(http)
    rule = _create_policy(http, policy, full_name.rsplit(".", 1)[0], alias="champ*")
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-modelyard-test")
    databricks_uc = MlflowClient(tracking_uri=server.url, registry_uri="databricks-uc")
    sdk = WorkspaceClient(host=server.url, token="dapi-modelyard-test")

    _refused_at_once(lambda: databricks_uc.set_registered_model_alias(full_name, "champion",
                                                                      first),
                     MlflowException, rule)
    _refused_at_once(lambda: sdk.registered_models.set_alias(full_name, "champion", first),
                     DatabricksError, rule)
    _refused_at_once(lambda: _uc_oss_set_alias(server, full_name, "champion", first),
                     BadRequestException, rule)
    raw = http.put(f"{UC}/models/{full_name}/aliases/champion", json={"version_num": first})
    assert raw.status_code == 400 and raw.json()["error_code"] == "FAILED_PRECONDITION"
    code, output = _cli(server, "aliases", "set", f"{full_name}@champion", str(first))
    assert code == 1 and f"Policy '{rule}'" in output

    _tag(http, full_name, first)
    databricks_uc.set_registered_model_alias(full_name, "champion", first)
    _uc_oss_set_alias(server, full_name, "champion", first)
    sdk.registered_models.set_alias(full_name, "champion", first)
    assert sdk.model_versions.get_by_alias(full_name, "champion").version == first
    _tag(http, full_name, second)
    assert _cli(server, "aliases", "set", f"{full_name}@champion", str(second))[0] == 0
    assert sdk.model_versions.get_by_alias(full_name, "champion").version == second
    # The policies CLI manages the same policies.
    code, output = _cli(server, "policies", "list")
    assert code == 0 and rule in output
    assert _cli(server, "policies", "delete", rule)[0] != 0  # asks; no terminal: no
    assert _cli(server, "policies", "delete", rule, "--yes")[0] == 0
    policy.remove(rule)
    code, output = _cli(server, "policies", "create", rule, "--scope", full_name, "--stage",
                        "Production", "--require", REQUIRE)
    assert code == 1 and "Stages exist only in the workspace registry" in output
