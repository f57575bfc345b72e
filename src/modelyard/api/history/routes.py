"""Alias history, as-of lookups, compare-and-set moves and rollback, for both registries.

    GET  /api/modelyard/v1/models/{name}/aliases/{alias}/history   newest first, paged
    GET  /api/modelyard/v1/models/{name}/aliases/{alias}[?as_of=]  the target (then)
    PUT  /api/modelyard/v1/models/{name}/aliases/{alias}           move, compare-and-set
    POST /api/modelyard/v1/models/{name}/aliases/{alias}/rollback  back to the previous target
    GET  /api/modelyard/v1/models/{name}/history                   stages, tags, descriptions...

`name` is a workspace model's name or a Unity Catalog model's three-level name; `registry`
(`workspace` or `uc`) says which when a workspace name has two dots.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.http import JSONResponse
from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.aliases import ANY_TARGET, AliasMoved, Expected
from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.domain.history import Entry
from modelyard.services.context import Actor
from modelyard.services.history import HistoryService, parse_time

PREFIX = "/api/modelyard/v1/models/{name:path}"


def _service(request: Request) -> HistoryService:
    return request.app.state.history


def _where(request: Request) -> tuple[str, str]:
    return request.path_params["name"], request.path_params.get("alias", "")


def alias_entry(e: Entry) -> dict[str, Any]:
    return {"version": e.value, "previous_version": e.previous, "actor": e.actor,
            "time": e.time, "reason": e.reason, "action": e.action, "id": e.id}


def entry(e: Entry) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "subject": e.subject or None, "version": e.version,
            "action": e.action, "value": e.value, "previous_value": e.previous,
            "actor": e.actor, "time": e.time, "reason": e.reason}


def alias_history(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    name, alias = _where(request)
    found, token = _service(request).entries(
        actor, name, p.optional_str("registry"), "alias", alias,
        page_token=p.optional_str("page_token"), max_results=p.optional_int("max_results"))
    return {"history": [alias_entry(e) for e in found], "next_page_token": token}


def model_history(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    name, _ = _where(request)
    found, token = _service(request).entries(
        actor, name, p.optional_str("registry"), p.optional_str("kind"),
        p.optional_str("subject"), p.optional_int("version"), p.optional_str("page_token"),
        p.optional_int("max_results"))
    return {"history": [entry(e) for e in found], "next_page_token": token}


def get_alias(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    name, alias = _where(request)
    as_of = p.optional_str("as_of")
    service = _service(request)
    at = parse_time(as_of) if as_of else None
    found = service.alias_as_of(actor, name, alias, at if at is not None else 2**62,
                                p.optional_str("registry"))
    if found is None or found.value is None:
        when = f" as of {as_of}" if as_of else ""
        raise NotFound(f"Alias {name}@{alias} was not set{when}.")
    return {"name": name, "alias": alias, "version": found.value, "as_of": at,
            "since": found.time, "actor": found.actor, "reason": found.reason}


def _expected(p: Params) -> Expected:
    if not p.has("expected_version"):  # absent: move wherever it points
        return ANY_TARGET
    value = p.raw("expected_version")
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Invalid expected_version {value!r}: give a version number, "
                              "or null for 'only if the alias is not set'.") from None


def _conflict(error: AliasMoved) -> JSONResponse:
    current = None if error.current is None else str(error.current)
    return JSONResponse({"error_code": "RESOURCE_CONFLICT", "message": error.message,
                         "current_version": current}, status_code=409)


def put_alias(request: Request, actor: Actor, p: Params) -> Any:
    name, alias = _where(request)
    try:
        _service(request).move_alias(actor, name, alias, p.required_version("version"),
                                     _expected(p), p.optional_str("reason"),
                                     p.optional_str("registry"))
    except AliasMoved as error:
        return _conflict(error)
    return {"name": name, "alias": alias, "version": str(p.required_version("version"))}


def rollback(request: Request, actor: Actor, p: Params) -> Any:
    name, alias = _where(request)
    try:
        target = _service(request).rollback(actor, name, alias, p.optional_str("reason"),
                                            p.optional_str("registry"))
    except AliasMoved as error:
        return _conflict(error)
    return {"name": name, "alias": alias, "version": str(target)}


def routes() -> list[BaseRoute]:
    return [
        Route(PREFIX + "/aliases/{alias}/history", endpoint(alias_history), methods=["GET"]),
        Route(PREFIX + "/aliases/{alias}/rollback", endpoint(rollback), methods=["POST"]),
        Route(PREFIX + "/aliases/{alias}", endpoint(get_alias), methods=["GET"]),
        Route(PREFIX + "/aliases/{alias}", endpoint(put_alias), methods=["PUT"]),
        Route(PREFIX + "/history", endpoint(model_history), methods=["GET"]),
    ]
