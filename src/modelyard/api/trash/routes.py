"""The trash and legal holds (issue 20), MLflow's `{error_code, message}` envelope.

    GET    /api/modelyard/v1/trash                    ?registry=workspace|uc
    POST   /api/modelyard/v1/trash/restore            {"name", "version"?, "registry"?}
    POST   /api/modelyard/v1/trash/purge              {"name", "version"?, "registry"?}
    GET    /api/modelyard/v1/holds
    POST   /api/modelyard/v1/holds                    {"name", "version"?, "reason", "registry"?}
    DELETE /api/modelyard/v1/holds                    {"name", "version"?, "registry"?}
    POST   /api/modelyard/v1/holds/release            (the same as DELETE)

`registry` defaults to "uc" for a three-level name and "workspace" for any other.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.services.context import Actor
from modelyard.services.trash import TrashService

TRASH = "/api/modelyard/v1/trash"
HOLDS = "/api/modelyard/v1/holds"


def _trash(request: Request) -> TrashService:
    service: TrashService = request.app.state.trash
    return service


def _target(p: Params) -> tuple[str, Any, Any]:
    return p.required_str("name"), p.raw("version"), p.raw("registry")


def list_trash(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    found = _trash(request).contents(actor, p.optional_str("registry"))
    return {"items": [item.as_dict() for item in found]}


def restore(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    return {"restored": _trash(request).restore(actor, *_target(p)).as_dict()}


async def purge(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    # Off the event loop: the files are removed before the answer.
    purged = await run_in_threadpool(_trash(request).purge, actor, *_target(p))
    return {"purged": [item.as_dict() for item in purged]}


def list_holds(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    return {"holds": [hold.as_dict() for hold in _trash(request).holds(actor)]}


def set_hold(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    name, version, registry = _target(p)
    hold = _trash(request).set_hold(actor, name, version, p.raw("reason"), registry)
    return {"hold": hold.as_dict()}


def release_hold(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    return {"released": _trash(request).release_hold(actor, *_target(p)).as_dict()}


def routes() -> list[BaseRoute]:
    return [
        Route(TRASH, endpoint(list_trash), methods=["GET"]),
        Route(TRASH + "/restore", endpoint(restore), methods=["POST"]),
        Route(TRASH + "/purge", endpoint(purge), methods=["POST"]),
        Route(HOLDS, endpoint(list_holds), methods=["GET"]),
        Route(HOLDS, endpoint(set_hold), methods=["POST"]),
        Route(HOLDS, endpoint(release_hold), methods=["DELETE"]),
        Route(HOLDS + "/release", endpoint(release_hold), methods=["POST"]),
    ]
