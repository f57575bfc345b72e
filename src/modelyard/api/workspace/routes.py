"""Workspace-registry extras as databricks-sdk `model_registry` calls them: the Databricks views
of models and versions (with the caller's permission level), stage transitions with comments,
transition requests, comments, the activity list, and the Permissions API for models."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow import render
from modelyard.api.mlflow.params import Params
from modelyard.domain.access import LEVEL_DESCRIPTIONS, Level, parse_level
from modelyard.domain.activities import Activity
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.principals import Kind
from modelyard.services.context import Actor
from modelyard.services.permissions import ROOT_ID, Entry, WorkspacePermissionService
from modelyard.services.transitions import TransitionService, Viewed

MLFLOW = "/api/2.0/mlflow"
PERMISSIONS = "/api/2.0/permissions/registered-models"
_PRINCIPAL_FIELD = {Kind.USER: "user_name", Kind.GROUP: "group_name",
                    Kind.SERVICE_PRINCIPAL: "service_principal_name"}


def _transitions(request: Request) -> TransitionService:
    return request.app.state.transitions


def _permissions(request: Request) -> WorkspacePermissionService:
    return request.app.state.workspace_permissions


def activity(item: Activity | Viewed) -> dict[str, Any]:
    viewed = item if isinstance(item, Viewed) else Viewed(item)
    a = viewed.activity
    body: dict[str, Any] = {
        "id": str(a.id), "activity_type": a.activity_type.value, "user_id": a.user_id,
        "creation_timestamp": a.creation_timestamp,
        "last_updated_timestamp": a.last_updated_timestamp,
    }
    for key, value in (("from_stage", a.from_stage), ("to_stage", a.to_stage),
                       ("comment", a.comment), ("system_comment", a.system_comment)):
        if value:
            body[key] = value
    if viewed.available_actions:
        body["available_actions"] = list(viewed.available_actions)
    return body


def _request(viewed: Viewed) -> dict[str, Any]:
    """A transition request as TransitionRequest/Activity (the list call reads Activity)."""
    return activity(viewed)


def _comment(viewed: Viewed) -> dict[str, Any]:
    a = viewed.activity
    body: dict[str, Any] = {"id": str(a.id), "comment": a.comment, "user_id": a.user_id,
                            "creation_timestamp": a.creation_timestamp,
                            "last_updated_timestamp": a.last_updated_timestamp}
    if viewed.available_actions:
        body["available_actions"] = list(viewed.available_actions)
    return body


# ---- Databricks views -------------------------------------------------------------------------

def get_model_databricks(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    model, model_id, level = _transitions(request).get_model_with_level(actor,
                                                                        p.required_str("name"))
    body = render.registered_model(model)
    body.pop("aliases", None)
    body.update({"id": str(model_id), "permission_level": level.name})
    return {"registered_model_databricks": body}


def transition_stage_databricks(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    name, version = p.required_str("name"), p.required_version()
    request.app.state.registry.transition_model_version_stage(
        actor, name, version, p.required_str("stage"),
        p.optional_bool("archive_existing_versions"), p.optional_str("comment"))
    found, level, _ = _transitions(request).version_with_level(actor, name, version)
    body = render.model_version(found)
    body.update({"permission_level": level.name, "open_requests": []})
    return {"model_version_databricks": body}


# ---- transition requests -------------------------------------------------------------------------

def create_request(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    viewed = _transitions(request).create_request(
        actor, p.required_str("name"), p.required_version(), p.required_str("stage"),
        p.optional_str("comment"))
    return {"request": _request(viewed)}


def approve_request(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    if p.raw("archive_existing_versions") is None:
        raise InvalidArgument("Missing value for required parameter "
                              "'archive_existing_versions'.")
    done = _transitions(request).approve(
        actor, p.required_str("name"), p.required_version(), p.required_str("stage"),
        p.optional_bool("archive_existing_versions"), p.optional_str("comment"))
    return {"activity": activity(done)}


def reject_request(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    done = _transitions(request).reject(actor, p.required_str("name"), p.required_version(),
                                        p.required_str("stage"), p.optional_str("comment"))
    return {"activity": activity(done)}


def delete_request(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    done = _transitions(request).cancel(actor, p.required_str("name"), p.required_version(),
                                        p.required_str("stage"), p.required_str("creator"),
                                        p.optional_str("comment"))
    return {"activity": activity(done)}


def list_requests(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    found = _transitions(request).list_requests(actor, p.required_str("name"),
                                                p.required_version())
    return {"requests": [_request(v) for v in found]}


# ---- comments and activities -------------------------------------------------------------------

def create_comment(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    viewed = _transitions(request).create_comment(actor, p.required_str("name"),
                                                  p.required_version(), p.optional_str("comment"))
    return {"comment": _comment(viewed)}


def update_comment(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    viewed = _transitions(request).update_comment(actor, p.required_str("id"),
                                                  p.optional_str("comment"))
    return {"comment": _comment(viewed)}


def delete_comment(request: Request, actor: Actor, p: Params) -> None:
    _transitions(request).delete_comment(actor, p.required_str("id"))


def list_activities(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    found = _transitions(request).list_activities(actor, p.required_str("name"),
                                                  p.required_version())
    return {"activities": [activity(v) for v in found]}


# ---- permissions ---------------------------------------------------------------------------------

def _object_id(request: Request) -> str:
    return request.path_params["model_id"]


def _acl(entries: list[Entry], object_id: str) -> dict[str, Any]:
    acl = []
    for entry in entries:
        acl.append({
            _PRINCIPAL_FIELD[entry.kind]: entry.principal, "display_name": entry.display_name,
            "all_permissions": [
                {"permission_level": g.level.name, "inherited": g.inherited,
                 **({"inherited_from_object": ["/registered-models/"]} if g.inherited else {})}
                for g in entry.grants],
        })
    path = "/registered-models/" if object_id == ROOT_ID else f"/registered-models/{object_id}"
    return {"object_id": path, "object_type": "registered-model", "access_control_list": acl}


def _requested_acl(p: Params) -> list[tuple[str, Level]]:
    raw = p.raw("access_control_list") or []
    if not isinstance(raw, list):
        raise InvalidArgument("'access_control_list' must be a list.")
    acl = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidArgument("Each access control entry must be an object.")
        principal = (item.get("user_name") or item.get("group_name")
                     or item.get("service_principal_name"))
        if not isinstance(principal, str) or not principal:
            raise InvalidArgument("Each access control entry needs user_name, group_name or "
                                  "service_principal_name.")
        acl.append((principal, parse_level(item.get("permission_level"))))
    return acl


def get_permissions(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    object_id = _object_id(request)
    return _acl(_permissions(request).get(actor, object_id), object_id)


def set_permissions(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    object_id = _object_id(request)
    entries = _permissions(request).change(actor, object_id, _requested_acl(p), replace=True)
    return _acl(entries, object_id)


def update_permissions(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    object_id = _object_id(request)
    entries = _permissions(request).change(actor, object_id, _requested_acl(p), replace=False)
    return _acl(entries, object_id)


def permission_levels(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    _permissions(request).get(actor, _object_id(request))  # the object must be visible
    return {"permission_levels": [{"permission_level": level.name, "description": text}
                                  for level, text in LEVEL_DESCRIPTIONS.items()]}


def routes() -> list[BaseRoute]:
    return [
        Route(f"{MLFLOW}/databricks/registered-models/get", endpoint(get_model_databricks),
              methods=["GET"]),
        Route(f"{MLFLOW}/databricks/model-versions/transition-stage",
              endpoint(transition_stage_databricks), methods=["POST"]),
        Route(f"{MLFLOW}/transition-requests/create", endpoint(create_request),
              methods=["POST"]),
        Route(f"{MLFLOW}/transition-requests/approve", endpoint(approve_request),
              methods=["POST"]),
        Route(f"{MLFLOW}/transition-requests/reject", endpoint(reject_request),
              methods=["POST"]),
        Route(f"{MLFLOW}/transition-requests/delete", endpoint(delete_request),
              methods=["DELETE"]),
        Route(f"{MLFLOW}/transition-requests/list", endpoint(list_requests), methods=["GET"]),
        Route(f"{MLFLOW}/comments/create", endpoint(create_comment), methods=["POST"]),
        Route(f"{MLFLOW}/comments/update", endpoint(update_comment), methods=["PATCH"]),
        Route(f"{MLFLOW}/comments/delete", endpoint(delete_comment), methods=["DELETE"]),
        Route(f"{MLFLOW}/activities/list", endpoint(list_activities), methods=["GET"]),
        Route(f"{PERMISSIONS}/{{model_id}}/permissionLevels", endpoint(permission_levels),
              methods=["GET"]),
        Route(f"{PERMISSIONS}/{{model_id}}", endpoint(get_permissions), methods=["GET"]),
        Route(f"{PERMISSIONS}/{{model_id}}", endpoint(set_permissions), methods=["PUT"]),
        Route(f"{PERMISSIONS}/{{model_id}}", endpoint(update_permissions), methods=["PATCH"]),
    ]
