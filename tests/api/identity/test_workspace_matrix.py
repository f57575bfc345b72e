"""The authorization matrix of the MLflow and workspace-registry surfaces, run over HTTP.

Each row is an endpoint, each column a role; the letter is what that role gets:
A allowed, D refused with 403 PERMISSION_DENIED, H hidden (exactly the answer a missing model
gives, so the caller cannot learn that it exists), U 401 UNAUTHENTICATED.

Every case works on a fresh model created by `owner`, with version 1 (in Staging for the rows
that need it) and alias `champion`; the level roles hold their level on that model only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.api.identity.conftest import AuthServer, Principal

ML = "/api/2.0/mlflow"
ROLES = ("anonymous", "no_grants", "can_read", "can_edit", "staging", "production",
         "can_manage", "group_edit", "root_read", "owner", "admin")
#                                       anon none read edit stag prod mng grp root own adm
MATRIX: dict[str, str] = {
    "get_model":                       " U    H    A    A    A    A    A   A   A    A   A",
    "search_models":                   " U    H    A    A    A    A    A   A   A    A   A",
    "search_versions":                 " U    H    A    A    A    A    A   A   A    A   A",
    "get_version":                     " U    H    A    A    A    A    A   A   A    A   A",
    "get_by_alias":                    " U    H    A    A    A    A    A   A   A    A   A",
    "get_latest_versions":             " U    H    A    A    A    A    A   A   A    A   A",
    "get_download_uri":                " U    H    A    A    A    A    A   A   A    A   A",
    "databricks_get_model":            " U    H    A    A    A    A    A   A   A    A   A",
    "list_transition_requests":        " U    H    A    A    A    A    A   A   A    A   A",
    "request_transition":              " U    H    A    A    A    A    A   A   A    A   A",
    "comment":                         " U    H    A    A    A    A    A   A   A    A   A",
    "update_model":                    " U    H    D    A    A    A    A   A   D    A   A",
    "set_model_tag":                   " U    H    D    A    A    A    A   A   D    A   A",
    "create_version":                  " U    H    D    A    A    A    A   A   D    A   A",
    "update_version":                  " U    H    D    A    A    A    A   A   D    A   A",
    "set_version_tag":                 " U    H    D    A    A    A    A   A   D    A   A",
    "set_alias":                       " U    H    D    A    A    A    A   A   D    A   A",
    "delete_alias":                    " U    H    D    A    A    A    A   A   D    A   A",
    "transition_none_to_staging":      " U    H    D    D    A    A    A   D   D    A   A",
    "transition_staging_to_archived":  " U    H    D    D    A    A    A   D   D    A   A",
    "transition_staging_to_production": " U    H    D    D    D    A    A   D   D    A   A",
    "transition_with_comment_to_prod": " U    H    D    D    D    A    A   D   D    A   A",
    "approve_request_to_staging":      " U    H    D    D    A    A    A   D   D    A   A",
    "approve_request_to_production":   " U    H    D    D    D    A    A   D   D    A   A",
    "reject_request_to_production":    " U    H    D    D    D    A    A   D   D    A   A",
    "rename_model":                    " U    H    D    D    D    D    A   D   D    A   A",
    "delete_version":                  " U    H    D    D    D    D    A   D   D    A   A",
    "delete_model":                    " U    H    D    D    D    D    A   D   D    A   A",
    "get_permissions":                 " U    H    A    A    A    A    A   A   A    A   A",
    "set_permissions":                 " U    H    D    D    D    D    A   D   D    A   A",
}
_LEVELS = {"can_read": "CAN_READ", "can_edit": "CAN_EDIT", "staging":
           "CAN_MANAGE_STAGING_VERSIONS", "production": "CAN_MANAGE_PRODUCTION_VERSIONS",
           "can_manage": "CAN_MANAGE"}


@dataclass
class Case:
    client: httpx.Client
    model: str
    model_id: str


Call = Callable[[Case], httpx.Response]


def _search(path: str, key: str) -> Call:
    def call(c: Case) -> httpx.Response:
        response = c.client.get(f"{ML}/{path}", params={"filter": f"name='{c.model}'"})
        if response.status_code == 200 and not response.json().get(key):
            # Invisible in a list is how a search hides a model.
            return httpx.Response(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST",
                                             "message": f"Registered Model with name="
                                                        f"{c.model} not found"})
        return response
    return call


CALLS: dict[str, Call] = {
    "get_model": lambda c: c.client.get(f"{ML}/registered-models/get",
                                        params={"name": c.model}),
    "search_models": _search("registered-models/search", "registered_models"),
    "search_versions": _search("model-versions/search", "model_versions"),
    "get_version": lambda c: c.client.get(f"{ML}/model-versions/get",
                                          params={"name": c.model, "version": "1"}),
    "get_by_alias": lambda c: c.client.get(f"{ML}/registered-models/alias",
                                           params={"name": c.model, "alias": "champion"}),
    "get_latest_versions": lambda c: c.client.post(f"{ML}/registered-models/get-latest-versions",
                                                   json={"name": c.model}),
    "get_download_uri": lambda c: c.client.get(f"{ML}/model-versions/get-download-uri",
                                               params={"name": c.model, "version": "1"}),
    "databricks_get_model": lambda c: c.client.get(f"{ML}/databricks/registered-models/get",
                                                   params={"name": c.model}),
    "list_transition_requests": lambda c: c.client.get(f"{ML}/transition-requests/list",
                                                       params={"name": c.model, "version": "1"}),
    "request_transition": lambda c: c.client.post(f"{ML}/transition-requests/create", json={
        "name": c.model, "version": "1", "stage": "Production", "comment": "please"}),
    "comment": lambda c: c.client.post(f"{ML}/comments/create", json={
        "name": c.model, "version": "1", "comment": "looks good"}),
    "update_model": lambda c: c.client.patch(f"{ML}/registered-models/update", json={
        "name": c.model, "description": "new"}),
    "set_model_tag": lambda c: c.client.post(f"{ML}/registered-models/set-tag", json={
        "name": c.model, "key": "k", "value": "v"}),
    "create_version": lambda c: c.client.post(f"{ML}/model-versions/create", json={
        "name": c.model, "source": "s3://bucket/model"}),
    "update_version": lambda c: c.client.patch(f"{ML}/model-versions/update", json={
        "name": c.model, "version": "1", "description": "d"}),
    "set_version_tag": lambda c: c.client.post(f"{ML}/model-versions/set-tag", json={
        "name": c.model, "version": "1", "key": "k", "value": "v"}),
    "set_alias": lambda c: c.client.post(f"{ML}/registered-models/alias", json={
        "name": c.model, "alias": "challenger", "version": "1"}),
    "delete_alias": lambda c: c.client.request("DELETE", f"{ML}/registered-models/alias",
                                               json={"name": c.model, "alias": "champion"}),
    "transition_none_to_staging": lambda c: c.client.post(
        f"{ML}/model-versions/transition-stage",
        json={"name": c.model, "version": "2", "stage": "Staging"}),
    "transition_staging_to_archived": lambda c: c.client.post(
        f"{ML}/model-versions/transition-stage",
        json={"name": c.model, "version": "1", "stage": "Archived"}),
    "transition_staging_to_production": lambda c: c.client.post(
        f"{ML}/model-versions/transition-stage",
        json={"name": c.model, "version": "1", "stage": "Production"}),
    "transition_with_comment_to_prod": lambda c: c.client.post(
        f"{ML}/databricks/model-versions/transition-stage",
        json={"name": c.model, "version": "2", "stage": "Production", "comment": "ship",
              "archive_existing_versions": False}),
    "approve_request_to_staging": lambda c: c.client.post(
        f"{ML}/transition-requests/approve", json={
            "name": c.model, "version": "2", "stage": "Staging",
            "archive_existing_versions": False}),
    "approve_request_to_production": lambda c: c.client.post(
        f"{ML}/transition-requests/approve", json={
            "name": c.model, "version": "1", "stage": "Production",
            "archive_existing_versions": True}),
    "reject_request_to_production": lambda c: c.client.post(
        f"{ML}/transition-requests/reject", json={
            "name": c.model, "version": "1", "stage": "Production", "comment": "no"}),
    "rename_model": lambda c: c.client.post(f"{ML}/registered-models/rename", json={
        "name": c.model, "new_name": c.model + "-renamed"}),
    "delete_version": lambda c: c.client.request("DELETE", f"{ML}/model-versions/delete",
                                                 json={"name": c.model, "version": "2"}),
    "delete_model": lambda c: c.client.request("DELETE", f"{ML}/registered-models/delete",
                                               json={"name": c.model}),
    "get_permissions": lambda c: c.client.get(
        f"/api/2.0/permissions/registered-models/{c.model_id}"),
    "set_permissions": lambda c: c.client.put(
        f"/api/2.0/permissions/registered-models/{c.model_id}",
        json={"access_control_list": [{"group_name": "users", "permission_level": "CAN_READ"}]}),
}


@pytest.fixture(scope="module")
def roles(auth_server: AuthServer) -> dict[str, Principal]:
    group = auth_server.new_group("editors")
    people = {role: auth_server.new_user(role) for role in ROLES
              if role not in ("anonymous", "admin")}
    auth_server.add_member(group.id, people["group_edit"].id)
    people["group"] = group
    people["admin"] = Principal("1", "admin", auth_server.admin_token)
    people["anonymous"] = Principal("", "anonymous", "")
    with auth_server.admin() as admin:
        response = admin.patch("/api/2.0/permissions/registered-models/root", json={
            "access_control_list": [{"user_name": people["root_read"].name,
                                     "permission_level": "CAN_READ"}]})
        assert response.status_code == 200, response.text
    return people


def _prepare(auth_server: AuthServer, roles: dict[str, Principal], role: str) -> Case:
    """A fresh model of `owner`: v1 in Staging with alias champion and an open request to
    Production, v2 in None with an open request to Staging; the role's level granted."""
    name = f"matrix-{uuid.uuid4().hex[:10]}"
    with auth_server.client(roles["owner"].token) as owner:
        for path, body in [
            ("registered-models/create", {"name": name}),
            ("model-versions/create", {"name": name, "source": "s3://b/1"}),
            ("model-versions/create", {"name": name, "source": "s3://b/2"}),
            ("model-versions/transition-stage", {"name": name, "version": "1",
                                                 "stage": "Staging"}),
            ("registered-models/alias", {"name": name, "alias": "champion", "version": "1"}),
            ("transition-requests/create", {"name": name, "version": "1",
                                            "stage": "Production"}),
            ("transition-requests/create", {"name": name, "version": "2", "stage": "Staging"}),
        ]:
            response = owner.post(f"{ML}/{path}", json=body)
            assert response.status_code == 200, (path, response.text)
        model_id = owner.get(f"{ML}/databricks/registered-models/get",
                             params={"name": name}).json()["registered_model_databricks"]["id"]
    if role in _LEVELS:
        auth_server.set_level(name, roles[role].name, _LEVELS[role])
    if role == "group_edit":
        auth_server.set_level(name, roles["group"].name, "CAN_EDIT")
    return Case(auth_server.client(roles[role].token), name, model_id)


def _missing_answer(case: Case, call: Call, admin: httpx.Client) -> httpx.Response:
    """What the same request gets for a model that does not exist (asked by the admin)."""
    missing = f"missing-{uuid.uuid4().hex[:10]}"
    answer = call(Case(admin, missing, "999999999"))
    answer.read()
    answer._content = answer.content.replace(missing.encode(), case.model.encode()) \
        .replace(b"999999999", case.model_id.encode())
    return answer


CASES = [(endpoint, role, row.split()[i]) for endpoint, row in MATRIX.items()
         for i, role in enumerate(ROLES)]


@pytest.mark.parametrize(("endpoint", "role", "expected"), CASES,
                         ids=[f"{e}-{r}" for e, r, _ in CASES])
def test_matrix(auth_server: AuthServer, roles: dict[str, Principal], endpoint: str, role: str,
                expected: str) -> None:
    case = _prepare(auth_server, roles, role)
    call = CALLS[endpoint]
    with case.client:
        response = call(case)
    body = response.json()
    if expected == "A":
        assert response.status_code == 200, response.text
    elif expected == "D":
        assert response.status_code == 403, response.text
        assert body["error_code"] == "PERMISSION_DENIED"
    elif expected == "U":
        assert response.status_code == 401, response.text
        assert body["error_code"] == "UNAUTHENTICATED"
    else:
        with auth_server.admin() as admin:
            missing = _missing_answer(case, call, admin)
        assert (response.status_code, body) == (missing.status_code, missing.json())
