"""The user's training code, changed only in its registry URI, against a running Modelyard."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def _predict(uri: str) -> list[int]:
    frame = pd.DataFrame({"x": [1, 2, 3]})
    return mlflow.pyfunc.load_model(uri).predict(frame)["x"].tolist()


def test_register_alias_load_and_predict(
    mlflow_client: MlflowClient, logged_models: dict[int, str], unique_name: str
) -> None:
    first = mlflow.register_model(f"runs:/{logged_models[1]}/model", unique_name)
    second = mlflow.register_model(f"runs:/{logged_models[2]}/model", unique_name)
    assert (first.version, second.version) == ("1", "2")
    assert first.status == "READY"
    assert first.run_id == logged_models[1]

    mlflow_client.set_registered_model_alias(unique_name, "champion", first.version)
    mlflow_client.transition_model_version_stage(unique_name, second.version, "Production")

    assert _predict(f"models:/{unique_name}@champion") == [2, 3, 4]
    assert _predict(f"models:/{unique_name}/1") == [2, 3, 4]
    assert _predict(f"models:/{unique_name}/latest") == [3, 4, 5]
    assert _predict(f"models:/{unique_name}/Production") == [3, 4, 5]

    # Moving the alias changes what the same URI loads.
    mlflow_client.set_registered_model_alias(unique_name, "champion", second.version)
    assert _predict(f"models:/{unique_name}@champion") == [3, 4, 5]
    version = mlflow_client.get_model_version_by_alias(unique_name, "champion")
    assert version.version == "2" and version.aliases == ["champion"]


def test_rename_keeps_versions_and_aliases(
    mlflow_client: MlflowClient, logged_models: dict[int, str], unique_name: str
) -> None:
    mlflow.register_model(f"runs:/{logged_models[1]}/model", unique_name)
    mlflow_client.set_registered_model_alias(unique_name, "prod", "1")
    mlflow_client.rename_registered_model(unique_name, unique_name + "-new")
    assert mlflow_client.get_registered_model(unique_name + "-new").aliases == {"prod": "1"}
    assert mlflow_client.get_model_version_by_alias(unique_name + "-new", "prod").version == "1"
    with pytest.raises(MlflowException, match="not found"):
        mlflow_client.get_registered_model(unique_name)
    assert _predict(f"models:/{unique_name}-new@prod") == [2, 3, 4]


def test_tags_and_descriptions(mlflow_client: MlflowClient, unique_name: str) -> None:
    mlflow_client.create_registered_model(unique_name, tags={"team": "fraud"}, description="v0")
    mlflow_client.set_registered_model_tag(unique_name, "owner", "ana")
    mlflow_client.delete_registered_model_tag(unique_name, "team")
    mlflow_client.update_registered_model(unique_name, description="Detects fraud")
    model = mlflow_client.get_registered_model(unique_name)
    assert model.tags == {"owner": "ana"}
    assert model.description == "Detects fraud"

    version = mlflow_client.create_model_version(unique_name, "s3://bucket/model", "run-1",
                                                 tags={"validated": "no"}, description="first")
    mlflow_client.set_model_version_tag(unique_name, version.version, "validated", "yes")
    mlflow_client.set_model_version_tag(unique_name, version.version, "tmp", "x")
    mlflow_client.delete_model_version_tag(unique_name, version.version, "tmp")
    mlflow_client.update_model_version(unique_name, version.version, description="checked")
    fetched = mlflow_client.get_model_version(unique_name, version.version)
    assert fetched.tags == {"validated": "yes"}
    assert fetched.description == "checked"
    assert mlflow_client.get_model_version_download_uri(unique_name, "1") == "s3://bucket/model"


def test_delete_version_never_reuses_numbers(mlflow_client: MlflowClient, unique_name: str) -> None:
    mlflow_client.create_registered_model(unique_name)
    for _ in range(3):
        mlflow_client.create_model_version(unique_name, "s3://b/m")
    mlflow_client.set_registered_model_alias(unique_name, "gone", "3")
    mlflow_client.delete_model_version(unique_name, "3")
    assert mlflow_client.create_model_version(unique_name, "s3://b/m").version == "4"
    with pytest.raises(MlflowException, match="alias gone not found"):
        mlflow_client.get_model_version_by_alias(unique_name, "gone")
    latest = mlflow_client.get_latest_versions(unique_name)
    assert [v.version for v in latest] == ["4"]


def test_delete_registered_model(mlflow_client: MlflowClient, unique_name: str) -> None:
    mlflow_client.create_registered_model(unique_name)
    mlflow_client.create_model_version(unique_name, "s3://b/m")
    mlflow_client.delete_registered_model(unique_name)
    with pytest.raises(MlflowException) as info:
        mlflow_client.get_registered_model(unique_name)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_stages_latest_versions_and_archive(mlflow_client: MlflowClient, unique_name: str) -> None:
    mlflow_client.create_registered_model(unique_name)
    for _ in range(4):
        mlflow_client.create_model_version(unique_name, "s3://b/m")
    mlflow_client.transition_model_version_stage(unique_name, "1", "production")
    mlflow_client.transition_model_version_stage(unique_name, "2", "Staging")
    moved = mlflow_client.transition_model_version_stage(
        unique_name, "3", "Production", archive_existing_versions=True)
    assert moved.current_stage == "Production"
    assert mlflow_client.get_model_version(unique_name, "1").current_stage == "Archived"
    assert mlflow_client.get_model_version(unique_name, "2").current_stage == "Staging"

    by_stage = {v.current_stage: v.version
                for v in mlflow_client.get_latest_versions(unique_name)}
    assert by_stage == {"None": "4", "Staging": "2", "Production": "3", "Archived": "1"}
    staged = mlflow_client.get_latest_versions(unique_name, stages=["Staging", "None"])
    assert sorted(v.version for v in staged) == ["2", "4"]
    model = mlflow_client.get_registered_model(unique_name)
    assert {v.current_stage for v in model.latest_versions} == set(by_stage)


def test_search_pages_through_every_model(mlflow_client: MlflowClient, unique_name: str) -> None:
    names = [f"{unique_name}-{i:02d}" for i in range(23)]
    for name in names:
        mlflow_client.create_registered_model(name, tags={"batch": unique_name})
    seen: list[str] = []
    token = None
    while True:
        page = mlflow_client.search_registered_models(
            f"name LIKE '{unique_name}-%'", max_results=5, page_token=token)
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == names  # default order: name ascending, nothing lost or repeated

    descending = mlflow_client.search_registered_models(
        f"tags.batch = '{unique_name}'", max_results=3, order_by=["name DESC"])
    assert [m.name for m in descending] == names[::-1][:3]


def test_search_versions_carries_aliases(mlflow_client: MlflowClient, unique_name: str) -> None:
    mlflow_client.create_registered_model(unique_name)
    for i in range(12):
        mlflow_client.create_model_version(unique_name, f"s3://b/{i}", run_id=f"run-{i % 3}")
    mlflow_client.set_registered_model_alias(unique_name, "best", "7")
    versions = mlflow_client.search_model_versions(
        f"name = '{unique_name}' AND run_id = 'run-1'", order_by=["version_number ASC"])
    assert [v.version for v in versions] == ["2", "5", "8", "11"]
    found = mlflow_client.search_model_versions(f"name='{unique_name}' AND version_number = 7")
    assert [v.aliases for v in found] == [["best"]]

    pages, token = [], None
    while True:
        page = mlflow_client.search_model_versions(
            f"name = '{unique_name}'", max_results=5, page_token=token,
            order_by=["version_number DESC"])
        pages.append([v.version for v in page])
        token = page.token
        if not token:
            break
    assert pages == [["12", "11", "10", "9", "8"], ["7", "6", "5", "4", "3"], ["2", "1"]]
