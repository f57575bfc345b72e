"""Issue 17, item 1: a user who may add versions to an existing Unity Catalog model registers
one the normal way. `mlflow.sklearn.log_model(..., registered_model_name=...)` under
`databricks-uc` first creates the model and goes on only when told it exists: a caller who may
see the model is told so (on every surface), one who may not still learns nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import mlflow
import numpy as np
import pytest
from databricks.sdk.errors import AlreadyExists, PermissionDenied
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression

from tests.api.identity.conftest import AuthServer, Principal

UC = "/api/2.1/unity-catalog"
DBX = "/api/2.0/mlflow/unity-catalog"
MODEL = "main.fraud.detector"


def _grant(auth_server: AuthServer, securable: str, name: str, principal: str,
           privileges: list[str]) -> None:
    with auth_server.admin() as admin:
        response = admin.patch(f"{UC}/permissions/{securable}/{name}", json={
            "changes": [{"principal": principal, "add": privileges}]})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def detector(auth_server: AuthServer) -> str:
    """`main.fraud.detector`, created by the admin (the schema may exist from another test)."""
    with auth_server.admin() as admin:
        schema = admin.post(f"{UC}/schemas", json={"catalog_name": "main", "name": "fraud"})
        assert schema.status_code in (200, 400), schema.text
        model = admin.post(f"{UC}/models", json={"catalog_name": "main", "schema_name": "fraud",
                                                 "name": "detector"})
        assert model.status_code in (200, 409), model.text
    return MODEL


def _user_on_model(auth_server: AuthServer, privileges: list[str]) -> Principal:
    user = auth_server.new_user("versioner")
    _grant(auth_server, "catalog", "main", user.name, ["USE_CATALOG"])
    _grant(auth_server, "schema", "main.fraud", user.name, ["USE_SCHEMA"])
    if privileges:
        _grant(auth_server, "function", MODEL, user.name, privileges)
    return user


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A local tracking store for the module (creating one runs MLflow's migrations: ~10 s)."""
    root = tmp_path_factory.mktemp("register-existing")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return uri, mlflow.create_experiment(f"x-{uuid.uuid4().hex[:8]}",
                                         artifact_location=str(root / "files"))


@pytest.fixture()
def as_user(auth_server: AuthServer, tracking: tuple[str, str],
            monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """mlflow with registry URI databricks-uc against the --auth server (the token is set by
    each test)."""
    monkeypatch.setenv("DATABRICKS_HOST", auth_server.url)
    mlflow.set_tracking_uri(tracking[0])
    mlflow.set_experiment(experiment_id=tracking[1])
    mlflow.set_registry_uri("databricks-uc")
    yield
    mlflow.set_registry_uri("")


def _log_sklearn_model() -> str:
    features = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0]])
    target = np.array([1.0, 2.0, 3.0])
    fitted = LinearRegression().fit(features, target)
    with mlflow.start_run():
        # Requirements given: inferring them runs the model in a subprocess (~30 s here).
        info = mlflow.sklearn.log_model(fitted, name="model",
                                        signature=infer_signature(features, target),
                                        pip_requirements=["scikit-learn"],
                                        registered_model_name=MODEL)
    assert info.registered_model_version is not None
    return str(info.registered_model_version)


@pytest.mark.parametrize("privileges", [["CREATE_MODEL_VERSION"], ["MANAGE"]])
def test_version_privilege_is_enough_to_register(auth_server: AuthServer, detector: str,
                                                 as_user: None, privileges: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    user = _user_on_model(auth_server, privileges)
    monkeypatch.setenv("DATABRICKS_TOKEN", user.token)
    version = _log_sklearn_model()
    with auth_server.admin() as admin:
        found = admin.get(f"{UC}/models/{MODEL}/versions/{version}").json()
    assert found["status"] == "READY" and found["created_by"] == user.name


def test_every_surface_says_it_exists_to_a_caller_who_sees_it(
        auth_server: AuthServer, detector: str) -> None:
    user = _user_on_model(auth_server, ["CREATE_MODEL_VERSION"])
    with auth_server.client(user.token) as client:
        uc = client.post(f"{UC}/models", json={"catalog_name": "main", "schema_name": "fraud",
                                               "name": "detector"})
        assert (uc.status_code, uc.json()["error_code"]) == (409, "ALREADY_EXISTS")
        dbx = client.post(f"{DBX}/registered-models/create", json={"name": MODEL})
        assert (dbx.status_code, dbx.json()["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
        # The MLflow dialect (copy_model_version's first call) with a three-level name.
        workspace = client.post("/api/2.0/mlflow/registered-models/create",
                                json={"name": MODEL})
        assert workspace.json()["error_code"] == "RESOURCE_ALREADY_EXISTS", workspace.text
    with pytest.raises(AlreadyExists):
        auth_server.sdk(user.token).registered_models.create(
            catalog_name="main", schema_name="fraud", name="detector")
    client_uc = MlflowClient(registry_uri=f"uc:{auth_server.url}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_UC_OSS_TOKEN", user.token)
        with pytest.raises(mlflow.exceptions.MlflowException, match="already exists"):
            client_uc.create_registered_model(MODEL)


def test_a_caller_who_cannot_see_it_learns_nothing(auth_server: AuthServer,
                                                   detector: str) -> None:
    """Without any privilege on the model, creating it answers exactly as creating a model
    that does not exist: the schema's refusal, in Databricks' words."""
    user = _user_on_model(auth_server, [])
    ghost = f"ghost_{uuid.uuid4().hex[:8]}"
    with auth_server.client(user.token) as client:
        answers = [client.post(f"{UC}/models", json={
            "catalog_name": "main", "schema_name": "fraud", "name": name}) for name in
            ("detector", ghost)]
        dbx = [client.post(f"{DBX}/registered-models/create", json={"name": f"main.fraud.{n}"})
               for n in ("detector", ghost)]
    expected = "User does not have CREATE MODEL on Schema 'main.fraud'."
    for response in (*answers, *dbx):
        assert response.status_code == 403, response.text
        assert response.json()["message"] == expected
    with pytest.raises(PermissionDenied, match=re.escape(expected)):
        auth_server.sdk(user.token).registered_models.create(
            catalog_name="main", schema_name="fraud", name="detector")


def test_permission_errors_name_privilege_and_object(auth_server: AuthServer,
                                                     detector: str) -> None:
    reader = _user_on_model(auth_server, ["EXECUTE"])
    with auth_server.client(reader.token) as client:
        denied = client.patch(f"{UC}/models/{MODEL}", json={"comment": "mine"})
        assert denied.json()["message"] == (
            f"User does not have MANAGE on Registered Model '{MODEL}'.")
        version = client.post(f"{DBX}/model-versions/create",
                              json={"name": MODEL, "source": "s3://b/k"})
        assert version.json()["message"] == (
            f"User does not have CREATE MODEL VERSION on Registered Model '{MODEL}'.")
        catalog = client.post(f"{UC}/catalogs", json={"name": f"c_{uuid.uuid4().hex[:6]}"})
        assert catalog.json()["message"] == "User does not have CREATE CATALOG on Metastore."
        bad = client.patch(f"{UC}/permissions/catalog/main", json={
            "changes": [{"principal": reader.name, "add": ["USE_EVERYTHING"]}]})
        assert bad.status_code == 400
        assert "valid privileges are" in bad.json()["message"]
        assert "CREATE_MODEL_VERSION" in bad.json()["message"]
