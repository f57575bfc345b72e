"""A UC model or version read alone (one precompiled statement) equals the same object listed.

Reading one object and listing several take different paths through the store; a user who gets
a version after listing it must see the same fields, tags and aliases, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.unity_catalog.conftest import local_path
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL

DB_UC = "/api/2.0/mlflow/unity-catalog"


@pytest.fixture()
def mlflow_uc(server: ServerProcess) -> Iterator[httpx.Client]:
    with http_clients.Client(base_url=server.url + DB_UC, timeout=30) as client:
        yield client


def _ready_version(uc: httpx.Client, schema: str, model: str) -> int:
    catalog_name, schema_name = schema.split(".")
    created = uc.post("/models/versions", json={
        "catalog_name": catalog_name, "schema_name": schema_name, "model_name": model,
        "source": "runs:/run-9/model", "run_id": "run-9", "comment": "c",
        "datasets": [{"name": "train", "digest": "d1", "source": "main.raw.tx"}]}).json()
    (local_path(created["storage_location"]) / "MLmodel").write_text(SIGNED_MLMODEL)
    number = created["version"]
    ready = uc.patch(f"/models/{schema}.{model}/versions/{number}/finalize",
                     json={"full_name": f"{schema}.{model}", "version": number})
    assert ready.status_code == 200, ready.text
    return int(number)


def test_a_version_and_a_model_read_alone_equal_them_listed(
        uc: httpx.Client, mlflow_uc: httpx.Client, schema: str) -> None:
    catalog_name, schema_name = schema.split(".")
    full = f"{schema}.m"
    assert uc.post("/models", json={"catalog_name": catalog_name, "schema_name": schema_name,
                                    "name": "m", "comment": "model"}).status_code == 200
    first, second = _ready_version(uc, schema, "m"), _ready_version(uc, schema, "m")
    for key in ("zeta", "alpha", "mid"):  # stored out of order
        assert mlflow_uc.post("/model-versions/set-tag", json={
            "name": full, "version": str(second), "key": key, "value": key * 2}).status_code == 200
        assert mlflow_uc.post("/registered-models/set-tag", json={
            "name": full, "key": key, "value": key}).status_code == 200
    for alias in ("prod", "champion"):
        assert mlflow_uc.post("/registered-models/alias", json={
            "name": full, "alias": alias, "version": str(second)}).status_code == 200
    assert mlflow_uc.post("/registered-models/alias", json={
        "name": full, "alias": "old", "version": str(first)}).status_code == 200

    listed = uc.get(f"/models/{full}/versions").json()["model_versions"]
    for number, item in zip((first, second), listed, strict=True):
        alone = uc.get(f"/models/{full}/versions/{number}").json()
        assert alone == item
    alone = uc.get(f"/models/{full}/versions/{second}").json()
    assert [a["alias_name"] for a in alone["aliases"]] == ["champion", "prod"]
    assert alone["datasets"] == [{"name": "train", "digest": "d1", "source": "main.raw.tx"}]
    assert uc.get(f"/models/{full}/aliases/champion").json() == alone

    by_alias = mlflow_uc.get("/registered-models/alias", params={"name": full, "alias": "prod"})
    by_number = mlflow_uc.get("/model-versions/get", params={"name": full, "version": second})
    assert by_alias.json() == by_number.json()
    version = by_number.json()["model_version"]
    assert [t["key"] for t in version["tags"]] == ["alpha", "mid", "zeta"]
    assert [a["alias"] for a in version["aliases"]] == ["champion", "prod"]

    model_listed = uc.get("/models", params={
        "catalog_name": catalog_name, "schema_name": schema_name}).json()["registered_models"]
    model_alone = uc.get(f"/models/{full}").json()
    assert model_listed == [model_alone]
    assert [a["alias_name"] for a in model_alone["aliases"]] == ["champion", "old", "prod"]
    model = mlflow_uc.get("/registered-models/get", params={"name": full}).json()
    assert [t["key"] for t in model["registered_model"]["tags"]] == ["alpha", "mid", "zeta"]


def test_missing_objects_keep_their_own_errors(uc: httpx.Client, mlflow_uc: httpx.Client,
                                               schema: str) -> None:
    catalog_name, schema_name = schema.split(".")
    uc.post("/models", json={"catalog_name": catalog_name, "schema_name": schema_name,
                             "name": "m"})
    for path, fragment in [(f"/models/{schema}.nope", "Registered model not found"),
                           (f"/models/{schema}.nope/versions/1", "Registered model not found"),
                           (f"/models/{schema}.m/versions/7", "Model version not found"),
                           (f"/models/{schema}.nope/aliases/a", "Registered model not found"),
                           (f"/models/{schema}.m/aliases/a", "Alias not found")]:
        response = uc.get(path)
        assert response.status_code == 404, (path, response.text)
        assert fragment in response.json()["message"], (path, response.text)
    response = mlflow_uc.get("/model-versions/get", params={"name": f"{schema}.m", "version": 7})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
