"""Unity Catalog privileges over HTTP: the matrix of roles and endpoints, grants through
databricks-sdk and unitycatalog-client, inheritance, and lists that show only what may be seen.

Letters as in test_workspace_matrix: A allowed (no 401/403, not hidden), D 403
PERMISSION_DENIED, H exactly the answer a missing object gives, U 401 UNAUTHENTICATED.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.service import catalog as uc_sdk
from databricks.sdk.service import iam
from unitycatalog.client import ApiClient, Configuration, GrantsApi
from unitycatalog.client.models import PermissionsChange, Privilege, UpdatePermissions

from tests.api.identity.conftest import AuthServer, Principal
from tests.support.asyncio_thread import run_async

UC = "/api/2.1/unity-catalog"
DBX = "/api/2.0/mlflow/unity-catalog"
ROLES = ("anonymous", "no_grants", "use_only", "execute", "create_version", "apply_tag",
         "manage", "owner", "browse", "admin", "group_execute")
#                          anon none use exec cver tag mng own brw adm grp
MATRIX: dict[str, str] = {
    "get_model":        " U    H   H   A    A    A   A   A   A   A   A",
    "list_models":      " U    H   H   A    A    A   A   A   H   A   A",
    "get_version":      " U    H   H   A    D    D   D   A   D   A   A",
    "list_versions":    " U    H   H   A    D    D   D   A   D   A   A",
    "read_credentials": " U    H   H   A    D    D   D   A   D   A   A",
    "create_version":   " U    H   H   D    A    D   A   A   D   A   D",
    "update_model":     " U    H   H   D    D    D   A   A   D   A   D",
    "delete_version":   " U    H   H   D    D    D   A   A   D   A   D",
    "delete_model":     " U    H   H   D    D    D   A   A   D   A   D",
    "get_grants":       " U    H   H   A    A    A   A   A   A   A   A",
    "update_grants":    " U    H   H   D    D    D   A   A   D   A   D",
    "create_model":     " U    H   D   D    D    D   D   A   H   A   D",
    "get_schema":       " U    H   A   A    A    A   A   A   H   A   A",
    "get_catalog":      " U    H   A   A    A    A   A   A   H   A   A",
    "write_credentials": " U   H   H   D    A    D   A   A   D   A   D",
    "set_alias":        " U    H   H   D    D    D   A   A   D   A   D",
    "update_schema":    " U    H   D   D    D    D   D   D   H   A   D",
    # The same rules through the Databricks UC dialect (registry URI databricks-uc).
    "dbx_get_model":    " U    H   H   A    A    A   A   A   A   A   A",
    "dbx_get_version":  " U    H   H   A    D    D   D   A   D   A   A",
    "dbx_search_versions": " U H   H   A    D    D   D   A   D   A   A",
    "dbx_create_version": " U  H   H   D    A    D   A   A   D   A   D",
}
_ON_MODEL = {"execute": ["EXECUTE"], "create_version": ["CREATE_MODEL_VERSION"],
             "apply_tag": ["APPLY_TAG"], "manage": ["MANAGE"], "browse": ["BROWSE"]}
_USES = ("use_only", "execute", "create_version", "apply_tag", "manage")


@dataclass
class Case:
    client: httpx.Client
    model: str  # catalog.schema.model

    @property
    def schema(self) -> str:
        return self.model.rsplit(".", 1)[0]

    @property
    def catalog(self) -> str:
        return self.model.split(".")[0]


Call = Callable[[Case], httpx.Response]


def _listed(c: Case) -> httpx.Response:
    catalog, schema, name = c.model.split(".")
    response = c.client.get(f"{UC}/models", params={"catalog_name": catalog,
                                                    "schema_name": schema})
    if response.status_code == 200 and name not in [m["name"] for m in
                                                    response.json().get("registered_models",
                                                                        [])]:
        return httpx.Response(404, json={"error_code": "NOT_FOUND", "message": "hidden"})
    return response


CALLS: dict[str, Call] = {
    "get_model": lambda c: c.client.get(f"{UC}/models/{c.model}"),
    "list_models": _listed,
    "get_version": lambda c: c.client.get(f"{UC}/models/{c.model}/versions/1"),
    "list_versions": lambda c: c.client.get(f"{UC}/models/{c.model}/versions"),
    "read_credentials": lambda c: c.client.post(f"{UC}/temporary-model-version-credentials",
                                                json={"catalog_name": c.catalog,
                                                      "schema_name": c.schema.split(".")[1],
                                                      "model_name": c.model.split(".")[2],
                                                      "version": 1,
                                                      "operation": "READ_MODEL_VERSION"}),
    "create_version": lambda c: c.client.post(f"{UC}/models/versions", json={
        "catalog_name": c.catalog, "schema_name": c.schema.split(".")[1],
        "model_name": c.model.split(".")[2], "source": "s3://bucket/x"}),
    "update_model": lambda c: c.client.patch(f"{UC}/models/{c.model}",
                                             json={"comment": "changed"}),
    "delete_version": lambda c: c.client.delete(f"{UC}/models/{c.model}/versions/1"),
    "delete_model": lambda c: c.client.delete(f"{UC}/models/{c.model}"),
    "get_grants": lambda c: c.client.get(f"{UC}/permissions/function/{c.model}"),
    "update_grants": lambda c: c.client.patch(f"{UC}/permissions/function/{c.model}", json={
        "changes": [{"principal": "users", "add": ["EXECUTE"]}]}),
    "create_model": lambda c: c.client.post(f"{UC}/models", json={
        "catalog_name": c.catalog, "schema_name": c.schema.split(".")[1],
        "name": f"new_{uuid.uuid4().hex[:6]}"}),
    "get_schema": lambda c: c.client.get(f"{UC}/schemas/{c.schema}"),
    "write_credentials": lambda c: c.client.post(
        f"{UC}/temporary-model-version-credentials",
        json={"catalog_name": c.catalog, "schema_name": c.schema.split(".")[1],
              "model_name": c.model.split(".")[2], "version": 1,
              "operation": "READ_WRITE_MODEL_VERSION"}),
    "set_alias": lambda c: c.client.put(f"{UC}/models/{c.model}/aliases/champion",
                                        json={"version_num": 1}),
    "update_schema": lambda c: c.client.patch(f"{UC}/schemas/{c.schema}",
                                              json={"comment": "changed"}),
    "dbx_get_model": lambda c: c.client.get(f"{DBX}/registered-models/get",
                                            params={"name": c.model}),
    "dbx_get_version": lambda c: c.client.get(f"{DBX}/model-versions/get",
                                              params={"name": c.model, "version": "1"}),
    "dbx_search_versions": lambda c: c.client.get(f"{DBX}/model-versions/search",
                                                  params={"filter": f"name='{c.model}'"}),
    "dbx_create_version": lambda c: c.client.post(f"{DBX}/model-versions/create", json={
        "name": c.model, "source": "s3://bucket/y"}),
    "get_catalog": lambda c: c.client.get(f"{UC}/catalogs/{c.catalog}"),
}


def _grant(auth_server: AuthServer, securable: str, name: str, principal: str,
           privileges: list[str]) -> None:
    with auth_server.admin() as admin:
        response = admin.patch(f"{UC}/permissions/{securable}/{name}", json={
            "changes": [{"principal": principal, "add": privileges}]})
    assert response.status_code == 200, response.text


@dataclass
class World:
    catalog: str
    schema: str
    people: dict[str, Principal]


@pytest.fixture(scope="module")
def world(auth_server: AuthServer) -> Iterator[World]:
    catalog, schema = f"c_{uuid.uuid4().hex[:8]}", "s"
    with auth_server.admin() as admin:
        assert admin.post(f"{UC}/catalogs", json={"name": catalog}).status_code == 200
        assert admin.post(f"{UC}/schemas", json={"catalog_name": catalog,
                                                 "name": schema}).status_code == 200
    group = auth_server.new_group("uc-readers")
    people = {role: auth_server.new_user(role) for role in ROLES
              if role not in ("anonymous", "admin")}
    auth_server.add_member(group.id, people["group_execute"].id)
    people["group"] = group
    people["admin"] = Principal("1", "admin", auth_server.admin_token)
    people["anonymous"] = Principal("", "anonymous", "")
    for role in (*_USES, "owner"):
        _grant(auth_server, "catalog", catalog, people[role].name, ["USE_CATALOG"])
        _grant(auth_server, "schema", f"{catalog}.{schema}", people[role].name, ["USE SCHEMA"])
    _grant(auth_server, "catalog", catalog, group.name, ["USE CATALOG"])
    _grant(auth_server, "schema", f"{catalog}.{schema}", group.name, ["USE_SCHEMA"])
    _grant(auth_server, "schema", f"{catalog}.{schema}", people["owner"].name,
           ["CREATE_MODEL"])
    yield World(catalog, schema, people)
    with auth_server.admin() as admin:
        admin.delete(f"{UC}/catalogs/{catalog}", params={"force": "true"})


def _prepare(auth_server: AuthServer, world: World, role: str) -> Case:
    name = f"m_{uuid.uuid4().hex[:8]}"
    full = f"{world.catalog}.{world.schema}.{name}"
    with auth_server.client(world.people["owner"].token) as owner:
        created = owner.post(f"{UC}/models", json={"catalog_name": world.catalog,
                                                   "schema_name": world.schema, "name": name})
        assert created.status_code == 200, created.text
        version = owner.post(f"{UC}/models/versions", json={
            "catalog_name": world.catalog, "schema_name": world.schema, "model_name": name,
            "source": "s3://bucket/v1"})
        assert version.status_code == 200, version.text
    if role in _ON_MODEL:
        _grant(auth_server, "function", full, world.people[role].name, _ON_MODEL[role])
    if role == "group_execute":
        _grant(auth_server, "registered_model", full, world.people["group"].name, ["EXECUTE"])
    return Case(auth_server.client(world.people[role].token), full)


def _missing_answer(case: Case, call: Call, admin: httpx.Client) -> tuple[int, dict]:
    ghost = f"zz{uuid.uuid4().hex[:8]}"
    response = call(Case(admin, f"{ghost}.{ghost}s.{ghost}m"))
    text = (response.text.replace(f"{ghost}.{ghost}s.{ghost}m", case.model)
            .replace(f"{ghost}.{ghost}s", case.schema).replace(ghost, case.catalog))
    return response.status_code, httpx.Response(200, text=text).json()


CASES = [(endpoint, role, row.split()[i]) for endpoint, row in MATRIX.items()
         for i, role in enumerate(ROLES)]


@pytest.mark.parametrize(("endpoint", "role", "expected"), CASES,
                         ids=[f"{e}-{r}" for e, r, _ in CASES])
def test_uc_matrix(auth_server: AuthServer, world: World, endpoint: str, role: str,
                   expected: str) -> None:
    case = _prepare(auth_server, world, role)
    call = CALLS[endpoint]
    with case.client:
        response = call(case)
    body = response.json()
    if expected == "A":
        assert response.status_code not in (401, 403, 404), response.text
    elif expected == "D":
        assert response.status_code == 403, response.text
        assert body["error_code"] == "PERMISSION_DENIED"
    elif expected == "U":
        assert response.status_code == 401, response.text
        assert body["error_code"] == "UNAUTHENTICATED"
    elif body.get("message") != "hidden":  # "hidden": left out of a list that it is in
        with auth_server.admin() as admin:
            missing = _missing_answer(case, call, admin)
        assert (response.status_code, body) == missing


def test_grant_to_group_through_databricks_sdk(auth_server: AuthServer) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    catalog = f"g_{uuid.uuid4().hex[:8]}"
    admin.catalogs.create(name=catalog)
    admin.schemas.create(name="s", catalog_name=catalog)
    admin.registered_models.create(catalog_name=catalog, schema_name="s", name="m")
    model = f"{catalog}.s.m"
    group = admin.groups.create(display_name=f"g-{uuid.uuid4().hex[:8]}")
    user = admin.users.create(user_name=f"u-{uuid.uuid4().hex[:8]}@example.com")
    assert group.id and user.id and user.user_name and group.display_name
    admin.groups.patch(group.id, operations=[
        iam.Patch(op=iam.PatchOp.ADD, path="members", value=[{"value": user.id}])])
    token = admin.token_management.create_obo_token(application_id=user.user_name).token_value
    assert token
    w = auth_server.sdk(token)
    with pytest.raises(NotFound):
        w.registered_models.get(model)
    for securable, name, privilege in (("catalog", catalog, uc_sdk.Privilege.USE_CATALOG),
                                       ("schema", f"{catalog}.s", uc_sdk.Privilege.USE_SCHEMA),
                                       ("function", model, uc_sdk.Privilege.EXECUTE)):
        admin.grants.update(securable_type=securable, full_name=name, changes=[
            uc_sdk.PermissionsChange(principal=group.display_name, add=[privilege])])
    assert w.registered_models.get(model).full_name == model
    granted = admin.grants.get(securable_type="function", full_name=model)
    assert [(a.principal, a.privileges) for a in granted.privilege_assignments or []] == [
        (group.display_name, [uc_sdk.Privilege.EXECUTE])]
    effective = w.grants.get_effective(securable_type="function", full_name=model)
    found = {(a.principal, p.privilege, p.inherited_from_name)
             for a in effective.privilege_assignments or [] for p in a.privileges or []}
    assert (group.display_name, uc_sdk.Privilege.USE_CATALOG, catalog) in found
    assert (group.display_name, uc_sdk.Privilege.EXECUTE, None) in found
    # Revoke: access goes away again.
    admin.grants.update(securable_type="function", full_name=model, changes=[
        uc_sdk.PermissionsChange(principal=group.display_name,
                                 remove=[uc_sdk.Privilege.EXECUTE])])
    with pytest.raises(NotFound):
        w.registered_models.get(model)


def test_inheritance_and_lists(auth_server: AuthServer) -> None:
    catalog = f"i_{uuid.uuid4().hex[:8]}"
    reader = auth_server.new_user("reader")
    with auth_server.admin() as admin:
        admin.post(f"{UC}/catalogs", json={"name": catalog})
        for schema in ("a", "b"):
            admin.post(f"{UC}/schemas", json={"catalog_name": catalog, "name": schema})
            for model in ("m1", "m2"):
                admin.post(f"{UC}/models", json={"catalog_name": catalog,
                                                 "schema_name": schema, "name": model})
    # Granted on the catalog, EXECUTE and USE SCHEMA reach every schema and model below.
    _grant(auth_server, "catalog", catalog, reader.name, ["USE CATALOG", "USE SCHEMA"])
    _grant(auth_server, "schema", f"{catalog}.a", reader.name, ["EXECUTE"])
    with auth_server.client(reader.token) as client:
        listed = client.get(f"{UC}/models", params={"catalog_name": catalog,
                                                    "schema_name": "a"}).json()
        assert sorted(m["name"] for m in listed["registered_models"]) == ["m1", "m2"]
        hidden = client.get(f"{UC}/models", params={"catalog_name": catalog,
                                                    "schema_name": "b"}).json()
        assert hidden.get("registered_models", []) == []
        catalogs = [c["name"] for c in client.get(f"{UC}/catalogs").json()["catalogs"]]
        assert catalog in catalogs
    with auth_server.client(auth_server.new_user("nobody").token) as client:
        catalogs = [c["name"] for c in client.get(f"{UC}/catalogs").json().get("catalogs", [])]
        assert catalog not in catalogs


def test_unitycatalog_client_grants(auth_server: AuthServer) -> None:
    catalog = f"o_{uuid.uuid4().hex[:8]}"
    user = auth_server.new_user("oss")
    with auth_server.admin() as admin:
        admin.post(f"{UC}/catalogs", json={"name": catalog})
    config = Configuration(host=auth_server.url + UC)

    async def scenario() -> None:
        # As mlflow's UC OSS store does with MLFLOW_UC_OSS_TOKEN: a bearer header.
        async with ApiClient(config, header_name="Authorization",
                             header_value=f"Bearer {auth_server.admin_token}") as api:
            grants = GrantsApi(api)
            updated = await grants.update(
                securable_type="catalog", full_name=catalog,
                update_permissions=UpdatePermissions(changes=[
                    PermissionsChange(principal=user.name, add=[Privilege.USE_CATALOG],
                                      remove=[])]))
            assert [(a.principal, a.privileges)
                    for a in updated.privilege_assignments or []] == [
                (user.name, [Privilege.USE_CATALOG])]
            listed = await grants.get(securable_type="catalog", full_name=catalog)
            assert listed.privilege_assignments and \
                listed.privilege_assignments[0].privileges == [Privilege.USE_CATALOG]

    run_async(scenario())


def test_renamed_object_keeps_grants_deleted_object_drops_them(auth_server: AuthServer) -> None:
    catalog = f"r_{uuid.uuid4().hex[:8]}"
    user = auth_server.new_user("keeper")
    with auth_server.admin() as admin:
        admin.post(f"{UC}/catalogs", json={"name": catalog})
        _grant(auth_server, "catalog", catalog, user.name, ["USE CATALOG"])
        renamed = admin.patch(f"{UC}/catalogs/{catalog}", json={"new_name": catalog + "x"})
        assert renamed.status_code == 200, renamed.text
        kept = admin.get(f"{UC}/permissions/catalog/{catalog}x").json()
        assert kept["privilege_assignments"] == [{"principal": user.name,
                                                  "privileges": ["USE CATALOG"]}]
        admin.delete(f"{UC}/catalogs/{catalog}x")
        admin.post(f"{UC}/catalogs", json={"name": catalog + "x"})
        fresh = admin.get(f"{UC}/permissions/catalog/{catalog}x").json()
        assert fresh["privilege_assignments"] == []


def test_ownership_transfers_to_a_group(auth_server: AuthServer) -> None:
    catalog = f"t_{uuid.uuid4().hex[:8]}"
    first = auth_server.new_user("first")
    heir = auth_server.new_user("heir")
    group = auth_server.new_group("owners")
    auth_server.add_member(group.id, heir.id)
    with auth_server.admin() as admin:
        admin.post(f"{UC}/catalogs", json={"name": catalog})
        admin.post(f"{UC}/schemas", json={"catalog_name": catalog, "name": "s"})
        admin.post(f"{UC}/models", json={"catalog_name": catalog, "schema_name": "s",
                                         "name": "m"})
        # The admin hands the model to `first`.
        moved = admin.patch(f"{UC}/models/{catalog}.s.m", json={"owner": first.name})
        assert moved.status_code == 200, moved.text
    for who in (first, heir):
        _grant(auth_server, "catalog", catalog, who.name, ["USE CATALOG", "USE SCHEMA"])
    model = f"{UC}/models/{catalog}.s.m"
    with auth_server.client(heir.token) as client:
        assert client.patch(model, json={"comment": "mine?"}).status_code == 404
    with auth_server.client(first.token) as client:
        assert client.patch(model, json={"comment": "mine"}).status_code == 200
        assert client.patch(model, json={"owner": group.name}).status_code == 200
        assert client.patch(model, json={"comment": "still mine?"}).status_code == 404
    with auth_server.client(heir.token) as client:
        assert client.patch(model, json={"comment": "ours"}).status_code == 200


def test_metastore_admin_role_through_scim(auth_server: AuthServer) -> None:
    user = auth_server.new_user("promoted")
    catalog = f"p_{uuid.uuid4().hex[:8]}"
    with auth_server.client(user.token) as client:
        assert client.post(f"{UC}/catalogs", json={"name": catalog}).status_code == 403
    with auth_server.admin() as admin:
        response = admin.patch(f"/api/2.0/preview/scim/v2/Users/{user.id}", json={
            "Operations": [{"op": "add", "path": "roles",
                            "value": [{"value": "metastore_admin"}]}]})
        assert response.status_code == 200, response.text
    with auth_server.client(user.token) as client:
        assert client.post(f"{UC}/catalogs", json={"name": catalog}).status_code == 200


def test_create_catalog_privilege_on_the_metastore(auth_server: AuthServer) -> None:
    user = auth_server.new_user("creator")
    _grant(auth_server, "metastore", "metastore", user.name, ["CREATE_CATALOG"])
    catalog = f"m_{uuid.uuid4().hex[:8]}"
    with auth_server.client(user.token) as client:
        created = client.post(f"{UC}/catalogs", json={"name": catalog})
        assert created.status_code == 200, created.text
        # The creator owns it, so it may add schemas and grant on it.
        assert client.post(f"{UC}/schemas", json={"catalog_name": catalog,
                                                  "name": "s"}).status_code == 200
