"""Issue 17, item 3: where Modelyard must behave as MLflow's own server does, checked against
MLflow itself: the same calls through the real mlflow client, once to Modelyard and once to a
registry in MLflow's SQL store (`sqlalchemy_store.SqlAlchemyStore`, what `mlflow server` runs).

- search_model_versions orders ties as `_parse_search_model_versions_order_by` does, for every
  order_by;
- a version created from `models:/<name>/<version>` downloads from where that version does;
- an unfiltered search of registered models leaves prompts out (mlflow, databricks-sdk).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import mlflow
import pytest
from databricks.sdk import WorkspaceClient
from mlflow import MlflowClient

from tests.support.server import ServerProcess

ORDERS = [
    ["version_number DESC"],
    ["version_number ASC"],
    ["name ASC"],
    ["name DESC"],
    ["version_number DESC", "name DESC"],
    ["name DESC", "version_number ASC"],
    ["attribute.version_number"],
]


@pytest.fixture(scope="module")
def mlflow_registry(tmp_path_factory: pytest.TempPathFactory) -> MlflowClient:
    """The reference: MLflow's SQL registry store, through the same client."""
    root = tmp_path_factory.mktemp("mlflow-reference")
    return MlflowClient(tracking_uri=f"sqlite:///{root / 'tracking.db'}",
                        registry_uri=f"sqlite:///{root / 'registry.db'}")


def _populate(client: MlflowClient, prefix: str) -> None:
    """Three models whose versions tie on number across models and on name within one."""
    for name in ("b", "a", "c"):
        client.create_registered_model(f"{prefix}-{name}")
    for name, count in (("a", 3), ("b", 2), ("c", 3), ("a", 1), ("b", 1)):
        for _ in range(count):
            client.create_model_version(f"{prefix}-{name}", f"s3://bucket/{name}", run_id=None)


def _keys(client: MlflowClient, prefix: str, order_by: list[str]) -> list[str]:
    found = client.search_model_versions(f"name LIKE '{prefix}-%'", order_by=order_by)
    return [f"{v.name.rsplit('-', 1)[1]}/{v.version}" for v in found]


@pytest.mark.parametrize("order_by", ORDERS, ids=["|".join(o) for o in ORDERS])
def test_version_order_ties_as_in_mlflow(mlflow_client: MlflowClient,
                                         mlflow_registry: MlflowClient,
                                         order_by: list[str]) -> None:
    prefix = f"ord-{uuid.uuid4().hex[:8]}"
    _populate(mlflow_client, prefix)
    _populate(mlflow_registry, prefix)
    ours, theirs = _keys(mlflow_client, prefix, order_by), _keys(mlflow_registry, prefix,
                                                                 order_by)
    assert len(ours) == 10 and ours == theirs


def test_timestamp_orders_break_ties_by_name_then_version(mlflow_client: MlflowClient
                                                          ) -> None:
    """Timestamps differ between two registries, so here the rule itself: after the order_by,
    name ascending, then version descending (MLflow's SQL store)."""
    prefix = f"ts-{uuid.uuid4().hex[:8]}"
    _populate(mlflow_client, prefix)
    for order_by in (["creation_timestamp DESC"], ["last_updated_timestamp ASC"]):
        key, direction = order_by[0].split()
        found = mlflow_client.search_model_versions(f"name LIKE '{prefix}-%'",
                                                    order_by=order_by)
        expected = sorted(found, key=lambda v: (v.name, -int(v.version)))
        expected.sort(key=lambda v: getattr(v, key), reverse=direction == "DESC")
        assert [(v.name, v.version) for v in found] == [(v.name, v.version) for v in expected]


def test_copy_downloads_from_the_origin(mlflow_client: MlflowClient,
                                        mlflow_registry: MlflowClient) -> None:
    results = []
    for client in (mlflow_client, mlflow_registry):
        origin, copy = f"origin-{uuid.uuid4().hex[:8]}", f"copy-{uuid.uuid4().hex[:8]}"
        client.create_registered_model(origin)
        client.create_model_version(origin, "s3://bucket/first", run_id=None)
        client.create_model_version(origin, "s3://bucket/second", run_id=None)
        copied = client.copy_model_version(f"models:/{origin}/2", copy)
        assert copied.source == f"models:/{origin}/2"  # the source stays as given
        results.append(client.get_model_version_download_uri(copy, copied.version))
    assert results == ["s3://bucket/second", "s3://bucket/second"]


def test_unfiltered_model_searches_leave_prompts_out(mlflow_client: MlflowClient,
                                                     server: ServerProcess,
                                                     tmp_path: Path) -> None:
    prompt, model = f"prompt-{uuid.uuid4().hex[:8]}", f"model-{uuid.uuid4().hex[:8]}"
    mlflow.genai.register_prompt(prompt, "Hello {{name}}!")
    mlflow_client.create_registered_model(model)
    names = {m.name for m in mlflow_client.search_registered_models(max_results=1000)}
    assert model in names and prompt not in names
    sdk = WorkspaceClient(host=server.url, token="modelyard-test-token")
    searched = {m.name for m in sdk.model_registry.search_models()}
    listed = {m.name for m in sdk.model_registry.list_models()}
    assert model in searched and prompt not in searched
    assert model in listed and prompt not in listed
    # Asked for, prompts are found (search_prompts filters on the marker tag).
    assert [p.name for p in mlflow.genai.search_prompts(f"name = '{prompt}'")] == [prompt]


def test_copy_into_a_missing_schema_is_refused(mlflow_client: MlflowClient) -> None:
    """Issue 17, item 6: `main` is a catalog, `main.nosuch` no schema: never a guess."""
    origin = f"fraud-model-{uuid.uuid4().hex[:8]}"
    mlflow_client.create_registered_model(origin)
    for path in ("one", "two"):
        mlflow_client.create_model_version(origin, f"s3://bucket/{path}", run_id=None)
    target = f"main.nosuch{uuid.uuid4().hex[:6]}.promoted"
    schema = target.rsplit(".", 1)[0]
    with pytest.raises(mlflow.exceptions.MlflowException,
                       match=f"Schema '{schema}' does not exist"):
        mlflow_client.copy_model_version(f"models:/{origin}/2", target)
    with pytest.raises(mlflow.exceptions.MlflowException, match="not found"):
        mlflow_client.get_registered_model(target)
    # A name whose first part is no catalog stays a workspace model, as before.
    plain = f"nocatalog{uuid.uuid4().hex[:6]}.s.m"
    copied = mlflow_client.copy_model_version(f"models:/{origin}/2", plain)
    assert (copied.name, copied.version) == (plain, "1")
