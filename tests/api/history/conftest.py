"""Models with a few versions in both registries, made over HTTP on the session server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.api.unity_catalog.conftest import local_path
from tests.support.uc_models import SIGNED_MLMODEL

MLFLOW = "/api/2.0/mlflow"
UC = "/api/2.1/unity-catalog"
NATIVE = "/api/modelyard/v1/models"


def workspace_model(http: httpx.Client, versions: int = 3) -> str:
    name = f"hist-{uuid.uuid4().hex[:10]}"
    assert http.post(f"{MLFLOW}/registered-models/create", json={"name": name}).is_success
    for _ in range(versions):
        made = http.post(f"{MLFLOW}/model-versions/create",
                         json={"name": name, "source": "s3://b/m"})
        assert made.is_success, made.text
    return name


def uc_model(http: httpx.Client, versions: int = 3) -> str:
    schema = f"h_{uuid.uuid4().hex[:10]}"
    assert http.post(f"{UC}/schemas", json={"catalog_name": "main", "name": schema}).is_success
    assert http.post(f"{UC}/models", json={"catalog_name": "main", "schema_name": schema,
                                           "name": "m"}).is_success
    for number in range(1, versions + 1):
        made = http.post(f"{UC}/models/versions", json={
            "catalog_name": "main", "schema_name": schema, "model_name": "m",
            "source": "runs:/r/m"})
        assert made.is_success, made.text
        (local_path(made.json()["storage_location"]) / "MLmodel").write_text(SIGNED_MLMODEL)
        done = http.patch(f"{UC}/models/main.{schema}.m/versions/{number}/finalize")
        assert done.is_success, done.text
    return f"main.{schema}.m"


@pytest.fixture(params=["workspace", "uc"])
def make_model(request: pytest.FixtureRequest) -> Callable[[httpx.Client], str]:
    """A model with versions 1-3 in one registry or the other."""
    return workspace_model if request.param == "workspace" else uc_model  # type: ignore[return-value]
