"""Prompts in Unity Catalog with the real mlflow client and registry URI `databricks-uc`:
register (twice: the second is a new version), alias, load by alias and version, search,
tags, links; prompts stay out of model lists and models out of prompt calls."""

from __future__ import annotations

import uuid

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

DBX = "/api/2.0/mlflow/unity-catalog"
UC = "/api/2.1/unity-catalog"


@pytest.fixture()
def prompt_schema(http: httpx.Client) -> str:
    name = f"prompts_{uuid.uuid4().hex[:8]}"
    assert http.post(f"{UC}/schemas", json={"catalog_name": "main", "name": name}).is_success
    return f"main.{name}"


def test_register_alias_load_and_search_a_uc_prompt(databricks_uc: MlflowClient,
                                                      prompt_schema: str,
                                                      http: httpx.Client) -> None:
    name = f"{prompt_schema}.greeting"
    first = mlflow.genai.register_prompt(name, "Hello {{name}}!", commit_message="first",
                                         tags={"team": "growth"})
    assert (first.name, first.version, first.template) == (name, 1, "Hello {{name}}!")
    second = mlflow.genai.register_prompt(name, "Hi {{name}}, welcome.",
                                          commit_message="friendlier")
    assert second.version == 2 and second.commit_message == "friendlier"

    mlflow.genai.set_prompt_alias(name, alias="prod", version=1)
    loaded = mlflow.genai.load_prompt(f"prompts:/{name}@prod")
    assert (loaded.version, loaded.template) == (1, "Hello {{name}}!")
    assert loaded.format(name="Ada") == "Hello Ada!"
    assert mlflow.genai.load_prompt(f"prompts:/{name}/2").template == "Hi {{name}}, welcome."
    mlflow.genai.set_prompt_alias(name, alias="prod", version=2)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@prod").version == 2

    catalog, schema = prompt_schema.split(".")
    found = mlflow.genai.search_prompts(f"catalog = '{catalog}' AND schema = '{schema}'")
    assert [p.name for p in found] == [name]
    assert found[0].tags.get("team") == "growth"

    # The raw JSON: timestamps as RFC 3339, aliases on the prompt, no internal tags.
    raw = http.get(f"{DBX}/prompts/{name}").json()
    assert raw["aliases"] == [{"alias": "prod", "version": "2"}]
    assert raw["creation_timestamp"].endswith("Z")
    keys = {t["key"] for t in raw["tags"]}
    assert "team" in keys and not keys & {"mlflow.prompt.is_prompt", "mlflow.prompt.text"}
    updated = http.patch(f"{DBX}/prompts/{name}", json={"prompt": {"description": "greets"}})
    assert updated.json()["description"] == "greets"
    unchanged = http.patch(f"{DBX}/prompts/{name}", json={"prompt": {}})
    assert unchanged.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    versions = http.post(f"{DBX}/prompts/{name}/versions/search", json={"name": name}).json()
    assert sorted(v["version"] for v in versions["prompt_versions"]) == ["1", "2"]

    # Links of a version to runs and logged models are recorded with its lineage.
    linked = http.post(f"{DBX}/prompt-versions/links-to-runs", json={
        "prompt_versions": [{"name": name, "version": "1"}], "run_ids": ["run-42"]})
    assert linked.status_code == 200, linked.text
    events = http.get(f"{UC}/models/{name}/versions/1").json()["lineage_events"]
    assert events[0]["entities"] == [{"run": {"id": "run-42"}}]

    # Prompts are not models: model lists leave them out.
    listed = http.get(f"{UC}/models", params={"catalog_name": catalog,
                                              "schema_name": schema}).json()
    assert listed.get("registered_models", []) == []
    assert name not in [m["name"] for m in http.get(
        f"{DBX}/registered-models/search").json().get("registered_models", [])]

    mlflow.genai.delete_prompt_alias(name, "prod")
    # A missing alias is RESOURCE_DOES_NOT_EXIST, which the client turns into None.
    gone = http.get(f"{DBX}/prompts/{name}/versions/by-alias/prod")
    assert (gone.status_code, gone.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_a_model_name_is_not_a_prompt(databricks_uc: MlflowClient, prompt_schema: str,
                                      http: httpx.Client) -> None:
    name = f"{prompt_schema}.detector"
    assert http.post(f"{DBX}/registered-models/create", json={"name": name}).is_success
    with pytest.raises(MlflowException, match="cannot have the name of a model"):
        mlflow.genai.register_prompt(name, "Hello")
    assert http.get(f"{DBX}/prompts/{name}").json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # A missing prompt's version is None to the client, not an error.
    assert databricks_uc.get_prompt_version(f"{prompt_schema}.nothing", 1) is None
