"""Modelyard's own governance API (issue 20), MLflow's `{error_code, message}` envelope.

    POST   /api/modelyard/v1/policies              {"name", "scope", "alias" | "stage",
                                                    "require", "approvals"}
    GET    /api/modelyard/v1/policies
    GET    /api/modelyard/v1/policies/{name}
    DELETE /api/modelyard/v1/policies/{name}
    POST   /api/modelyard/v1/models/{name}/aliases/{alias}/requests   {"version", "reason"}
    GET    /api/modelyard/v1/models/{name}/aliases/{alias}/requests
    POST   /api/modelyard/v1/models/{name}/aliases/{alias}/requests/{id}/approve | reject |
           cancel | comment                                          {"comment"}
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.errors import InvalidArgument
from modelyard.services.alias_requests import AliasRequestService
from modelyard.services.context import Actor
from modelyard.services.policies import PolicyService

POLICIES = "/api/modelyard/v1/policies"
REQUESTS = "/api/modelyard/v1/models/{name}/aliases/{alias}/requests"


def _policies(request: Request) -> PolicyService:
    service: PolicyService = request.app.state.policies
    return service


def _requests(request: Request) -> AliasRequestService:
    service: AliasRequestService = request.app.state.alias_requests
    return service


def _approvals(p: Params) -> int | None:
    raw = p.raw("approvals")
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise InvalidArgument("Invalid 'approvals': a whole number from 0 to 20.")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Invalid 'approvals' {raw!r}: a whole number from 0 to "
                              "20.") from None


def create_policy(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    policy = _policies(request).create(
        actor, p.required_str("name"), p.required_str("scope"), p.optional_str("alias"),
        p.optional_str("stage"), p.required_str("require"), _approvals(p))
    return {"policy": policy.as_dict()}


def list_policies(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    return {"policies": [policy.as_dict() for policy in _policies(request).list(actor)]}


def get_policy(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    return {"policy": _policies(request).get(actor, request.path_params["name"]).as_dict()}


def delete_policy(request: Request, actor: Actor, p: Params) -> None:
    _policies(request).delete(actor, request.path_params["name"])


def create_request(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    path = request.path_params
    created = _requests(request).create(actor, path["name"], path["alias"],
                                        p.required_version(), p.optional_str("reason"))
    return {"request": created.as_dict()}


def list_requests(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    path = request.path_params
    found = _requests(request).list(actor, path["name"], path["alias"])
    return {"requests": [r.as_dict() for r in found]}


def review_request(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    path = request.path_params
    service = _requests(request)
    steps = {"approve": service.approve, "reject": service.reject, "cancel": service.cancel,
             "comment": service.comment}
    step = steps.get(path["step"])
    if step is None:
        raise InvalidArgument(f"Unknown step '{path['step']}': use approve, reject, cancel or "
                              "comment.")
    done = step(actor, path["name"], path["alias"], path["id"], p.optional_str("comment"))
    return {"request": done.as_dict()}


def routes() -> list[BaseRoute]:
    return [
        Route(POLICIES, endpoint(create_policy), methods=["POST"]),
        Route(POLICIES, endpoint(list_policies), methods=["GET"]),
        Route(POLICIES + "/{name}", endpoint(get_policy), methods=["GET"]),
        Route(POLICIES + "/{name}", endpoint(delete_policy), methods=["DELETE"]),
        Route(REQUESTS, endpoint(create_request), methods=["POST"]),
        Route(REQUESTS, endpoint(list_requests), methods=["GET"]),
        Route(REQUESTS + "/{id}/{step}", endpoint(review_request), methods=["POST"]),
    ]
