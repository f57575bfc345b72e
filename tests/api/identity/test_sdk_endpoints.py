"""Issue 17, item 5: endpoints the clients call that were missing, each through the client that
calls it: databricks-sdk `grants.list`, `grants.list_effective`, `tokens.update`,
`token_management.get`, `metastores.summary`; unitycatalog-client `metastores.summary` (with
the token passed as the README shows); mlflow's native UC store tag calls
(`securable-tags`, `subentity-tags`); `emit-lineage` as mlflow sends it, recorded and returned.
"""

from __future__ import annotations

import uuid

import pytest
from databricks.sdk.common.types.fieldmask import FieldMask
from databricks.sdk.errors import BadRequest
from databricks.sdk.service import catalog as uc_sdk
from databricks.sdk.service.settings import PublicTokenInfo
from mlflow import MlflowClient
from mlflow.protos.databricks_uc_registry_messages_pb2 import (
    Entity,
    Job,
    ModelVersionLineageDirection,
    Notebook,
)
from mlflow.utils._unity_catalog_utils import emit_model_version_lineage
from mlflow.utils.databricks_utils import get_databricks_host_creds
from unitycatalog.client import ApiClient, Configuration, MetastoresApi

from tests.api.identity.conftest import AuthServer
from tests.support import http_clients
from tests.support.asyncio_thread import run_async

UC = "/api/2.1/unity-catalog"


@pytest.fixture()
def model(auth_server: AuthServer) -> str:
    catalog = f"e_{uuid.uuid4().hex[:8]}"
    with auth_server.admin() as admin:
        assert admin.post(f"{UC}/catalogs", json={"name": catalog}).is_success
        assert admin.post(f"{UC}/schemas", json={"catalog_name": catalog,
                                                 "name": "s"}).is_success
        assert admin.post(f"{UC}/models", json={"catalog_name": catalog, "schema_name": "s",
                                                "name": "m"}).is_success
        assert admin.post(f"{UC}/models/versions", json={
            "catalog_name": catalog, "schema_name": "s", "model_name": "m",
            "source": "s3://bucket/m"}).is_success
    return f"{catalog}.s.m"


def test_grants_list_and_list_effective(auth_server: AuthServer, model: str) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    user = auth_server.new_user("lister")
    catalog = model.split(".")[0]
    admin.grants.update(securable_type="catalog", full_name=catalog, changes=[
        uc_sdk.PermissionsChange(principal=user.name, add=[uc_sdk.Privilege.USE_CATALOG])])
    admin.grants.update(securable_type="function", full_name=model, changes=[
        uc_sdk.PermissionsChange(principal=user.name, add=[uc_sdk.Privilege.EXECUTE])])
    listed = list(admin.grants.list(securable_type="function", full_name=model))
    assert [(a.principal, a.privileges) for a in listed] == [
        (user.name, [uc_sdk.Privilege.EXECUTE])]
    effective = list(admin.grants.list_effective(securable_type="function", full_name=model,
                                                 principal=user.name))
    found = {(p.privilege, p.inherited_from_name) for a in effective for p in a.privileges or []}
    assert found == {(uc_sdk.Privilege.EXECUTE, None), (uc_sdk.Privilege.USE_CATALOG, catalog)}
    with pytest.raises(Exception, match="page_size"):
        list(admin.grants.list(securable_type="function", full_name=model, page_size=10))


def test_tokens_update_and_token_management_get(auth_server: AuthServer) -> None:
    user = auth_server.new_user("tokened")
    w = auth_server.sdk(user.token)
    created = w.tokens.create(comment="first name", lifetime_seconds=3600)
    assert created.token_info and created.token_info.token_id
    token_id = created.token_info.token_id
    w.tokens.update(token_id, PublicTokenInfo(comment="renamed"), FieldMask(["comment"]))
    assert [t.comment for t in w.tokens.list() if t.token_id == token_id] == ["renamed"]
    got = auth_server.sdk(auth_server.admin_token).token_management.get(token_id)
    assert got.token_info and got.token_info.comment == "renamed"
    assert got.token_info.created_by_username == user.name
    with pytest.raises(Exception, match="comment"):
        w.tokens.update(token_id, PublicTokenInfo(scopes=["all"]), FieldMask(["scopes"]))
    # Another user's token is not theirs to see or change.
    other = auth_server.sdk(auth_server.new_user("other").token)
    with pytest.raises(Exception, match="not found"):
        other.tokens.update(token_id, PublicTokenInfo(comment="x"), FieldMask(["comment"]))
    with pytest.raises(Exception, match="not found"):
        other.token_management.get(token_id)


def test_metastore_summary(auth_server: AuthServer) -> None:
    summary = auth_server.sdk(auth_server.admin_token).metastores.summary()
    assert summary.metastore_id and uuid.UUID(summary.metastore_id)
    user = auth_server.new_user("oss")
    config = Configuration(host=auth_server.url + UC)

    async def oss() -> str | None:
        async with ApiClient(config, header_name="Authorization",
                             header_value=f"Bearer {user.token}") as api:
            return (await MetastoresApi(api).summary()).metastore_id

    assert run_async(oss()) == summary.metastore_id  # the same id for everyone, every time


def test_native_uc_store_sets_and_deletes_tags(auth_server: AuthServer, model: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_UC_NATIVE_MODEL_REGISTRY", "true")
    monkeypatch.setenv("DATABRICKS_HOST", auth_server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", auth_server.admin_token)
    client = MlflowClient(registry_uri="databricks-uc")
    client.set_registered_model_tag(model, "team", "risk")
    client.set_model_version_tag(model, "1", "stage", "candidate")
    with auth_server.admin() as admin:
        found = admin.get(f"{UC}/models/{model}").json()
        version = admin.get(f"{UC}/models/{model}/versions/1").json()
    assert {"key": "team", "value": "risk"} in found["tags"]
    assert {"key": "stage", "value": "candidate"} in version["tags"]
    client.delete_registered_model_tag(model, "team")
    client.delete_model_version_tag(model, "1", "stage")
    with auth_server.admin() as admin:
        assert admin.get(f"{UC}/models/{model}").json().get("tags", []) == []
        assert admin.get(f"{UC}/models/{model}/versions/1").json().get("tags", []) == []


def test_emit_lineage_is_recorded_and_returned(auth_server: AuthServer, model: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    reader = auth_server.new_user("consumer")
    catalog = model.split(".")[0]
    with auth_server.admin() as admin:
        for securable, name, privileges in (("catalog", catalog, ["USE_CATALOG"]),
                                            ("schema", f"{catalog}.s", ["USE_SCHEMA"]),
                                            ("function", model, ["EXECUTE"])):
            assert admin.patch(f"{UC}/permissions/{securable}/{name}", json={"changes": [
                {"principal": reader.name, "add": privileges}]}).is_success
    monkeypatch.setenv("DATABRICKS_HOST", auth_server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", reader.token)
    creds = get_databricks_host_creds("databricks-uc")
    entities = [Entity(notebook=Notebook(id="1234")), Entity(job=Job(id="77", job_run_id="9"))]
    for _ in range(2):  # the same report twice is one record, seen twice
        emit_model_version_lineage(creds, model, "1", entities,
                                   ModelVersionLineageDirection.DOWNSTREAM)
    with http_clients.Client(base_url=auth_server.url,
                             headers={"Authorization": f"Bearer {reader.token}"}) as client:
        version = client.get(f"{UC}/models/{model}/versions/1").json()
        dbx = client.get("/api/2.0/mlflow/unity-catalog/model-versions/get",
                         params={"name": model, "version": "1"}).json()["model_version"]
        answer = client.post("/api/2.0/mlflow/unity-catalog/model-versions/emit-lineage",
                             json={"name": model, "version": "1", "model_version_lineage_info": {
                                 "entities": [{"notebook": {"id": "5"}}],
                                 "direction": "UPSTREAM"}}).json()
    (event,) = version["lineage_events"]
    assert event["direction"] == "DOWNSTREAM"
    assert event["entities"] == [{"notebook": {"id": "1234"}},
                                 {"job": {"id": "77", "job_run_id": "9"}}]
    assert event["first_reported_by"] == event["last_reported_by"] == reader.name
    assert event["last_reported_at"] >= event["first_reported_at"]
    assert dbx["lineage_events"] == version["lineage_events"]
    assert [e["direction"] for e in answer["lineage_events"]] == ["DOWNSTREAM", "UPSTREAM"]
    # Someone who may not read the version cannot report on it.
    with http_clients.Client(base_url=auth_server.url, headers={
            "Authorization": f"Bearer {auth_server.new_user('stranger').token}"}) as client:
        refused = client.post("/api/2.0/mlflow/unity-catalog/model-versions/emit-lineage",
                              json={"name": model, "version": "1"})
    assert refused.status_code == 404


def test_a_privilege_that_does_not_apply_to_the_securable_is_refused(
        auth_server: AuthServer, model: str) -> None:
    """As on Databricks: USE CATALOG goes on a catalog, not on a schema; CREATE MODEL on a
    catalog or schema, not on a model. The refusal names the privilege, the securable and the
    privileges that do apply; nothing is granted."""
    admin = auth_server.sdk(auth_server.admin_token)
    user = auth_server.new_user("misplaced")
    catalog, schema, _ = model.split(".")
    for securable_type, full_name, privilege, expected in [
            ("schema", f"{catalog}.{schema}", uc_sdk.Privilege.USE_CATALOG,
             f"Privilege USE CATALOG is not applicable to this entity [{catalog}.{schema}:"
             "SCHEMA]. The privileges of a schema are ALL_PRIVILEGES, APPLY_TAG, BROWSE, "
             "CREATE_FUNCTION, CREATE_MODEL, CREATE_MODEL_VERSION, EXECUTE, MANAGE, "
             "USE_SCHEMA."),
            ("function", model, uc_sdk.Privilege.CREATE_MODEL,
             f"Privilege CREATE MODEL is not applicable to this entity [{model}:FUNCTION]. "
             "The privileges of a model are ALL_PRIVILEGES, APPLY_TAG, BROWSE, "
             "CREATE_MODEL_VERSION, EXECUTE, MANAGE."),
            ("catalog", catalog, uc_sdk.Privilege.CREATE_CATALOG,
             f"Privilege CREATE CATALOG is not applicable to this entity [{catalog}:CATALOG]."),
            ("metastore", "metastore", uc_sdk.Privilege.USE_CATALOG,
             "Privilege USE CATALOG is not applicable to this entity [metastore:METASTORE]. "
             "The privileges of a metastore are CREATE_CATALOG.")]:
        with pytest.raises(BadRequest) as refused:
            admin.grants.update(securable_type=securable_type, full_name=full_name, changes=[
                uc_sdk.PermissionsChange(principal=user.name, add=[privilege])])
        assert str(refused.value).startswith(expected), str(refused.value)
        assert refused.value.error_code == "INVALID_ARGUMENT"
        assert list(admin.grants.list(securable_type=securable_type,
                                      full_name=full_name)) == []
    # The same privileges where they apply; and unitycatalog-client's spelling is refused alike.
    admin.grants.update(securable_type="schema", full_name=f"{catalog}.{schema}", changes=[
        uc_sdk.PermissionsChange(principal=user.name, add=[uc_sdk.Privilege.USE_SCHEMA,
                                                           uc_sdk.Privilege.CREATE_MODEL])])
    with auth_server.admin() as http:
        answer = http.patch(f"{UC}/permissions/schema/{catalog}.{schema}", json={
            "changes": [{"principal": user.name, "add": ["USE CATALOG"]}]})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_ARGUMENT"
    assert "Privilege USE CATALOG is not applicable" in answer.json()["message"]
