"""Unity Catalog grants: GET/PATCH /permissions/{type}/{name} and GET /effective-permissions.

Privileges are read in either spelling (`USE_CATALOG`, `USE CATALOG`) and answered in the
caller's: databricks-sdk gets the Databricks enum (underscores), everyone else the OSS spelling
(spaces), leaving out the privileges the OSS enum does not know (unitycatalog-client would
refuse them). Errors use Unity Catalog's envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.api.auth import authenticate
from modelyard.api.http import BodyError, JSONResponse, json_body
from modelyard.api.unity_catalog.errors import domain_error_response, error_response
from modelyard.domain.access import Privilege
from modelyard.domain.errors import InvalidArgument, ModelyardError
from modelyard.services.context import Actor
from modelyard.services.grants import Assignment, EffectivePrivilege, GrantService, parse_change

PREFIX = "/api/2.1/unity-catalog"
_OSS = frozenset({Privilege.CREATE_CATALOG, Privilege.USE_CATALOG, Privilege.CREATE_SCHEMA,
                  Privilege.USE_SCHEMA, Privilege.CREATE_FUNCTION, Privilege.EXECUTE,
                  Privilege.CREATE_MODEL})
Handler = Callable[[GrantService, Actor, Request, dict[str, Any]], Any]


def _databricks(request: Request) -> bool:
    return "databricks-sdk" in request.headers.get("user-agent", "")


def _spell(privilege: Privilege, databricks: bool) -> str | None:
    if databricks:
        return privilege.value.replace(" ", "_")
    return privilege.value if privilege in _OSS else None


def _assignments(items: list[Assignment], databricks: bool) -> dict[str, Any]:
    rows = []
    for item in items:
        spelled = [s for s in (_spell(p, databricks) for p in item.privileges) if s]
        if spelled:
            rows.append({"principal": item.principal, "privileges": spelled})
    return {"privilege_assignments": rows}


def _effective(found: dict[str, list[EffectivePrivilege]], databricks: bool) -> dict[str, Any]:
    rows = []
    for principal, privileges in found.items():
        entries = []
        for item in privileges:
            spelled = _spell(item.privilege, databricks)
            if spelled is None:
                continue
            entry: dict[str, Any] = {"privilege": spelled}
            if item.inherited_from_type:
                entry["inherited_from_type"] = item.inherited_from_type
                entry["inherited_from_name"] = item.inherited_from_name
            entries.append(entry)
        if entries:
            rows.append({"principal": principal, "privileges": entries})
    return {"privilege_assignments": rows}


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            actor = await authenticate(request)
            body = await json_body(request) if request.method != "GET" else {}
            result = await run_in_threadpool(handler, request.app.state.grants, actor,
                                             request, body)
        except ModelyardError as error:
            return domain_error_response(error)
        except BodyError as error:
            return error_response("INVALID_ARGUMENT", str(error), 400)
        return JSONResponse(result)

    endpoint.__name__ = handler.__name__
    return endpoint


def _where(request: Request) -> tuple[str, str]:
    return request.path_params["securable_type"], request.path_params["full_name"]


def get_permissions(grants: GrantService, actor: Actor, request: Request,
                    body: dict[str, Any]) -> Any:
    found = grants.get(actor, *_where(request), request.query_params.get("principal") or None)
    return _assignments(found, _databricks(request))


def update_permissions(grants: GrantService, actor: Actor, request: Request,
                       body: dict[str, Any]) -> Any:
    changes = body.get("changes") or []
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise InvalidArgument("'changes' must be a list of {principal, add, remove} objects.")
    parsed = [parse_change(c.get("principal"), c.get("add"), c.get("remove")) for c in changes]
    return _assignments(grants.update(actor, *_where(request), parsed), _databricks(request))


def get_effective(grants: GrantService, actor: Actor, request: Request,
                  body: dict[str, Any]) -> Any:
    found = grants.effective(actor, *_where(request), request.query_params.get("principal") or None)
    return _effective(found, _databricks(request))


def _page_size(request: Request) -> None:
    """Databricks' rule for the paged grant lists: 0 (the server's page) or at least 150.
    Every assignment fits in the one page this answers."""
    raw = request.query_params.get("page_size")
    if raw is None:
        return
    try:
        size = int(raw)
    except ValueError:
        raise InvalidArgument(f"Invalid page_size {raw!r}: expected an integer.") from None
    if size < 0 or 0 < size < 150:
        raise InvalidArgument(f"Invalid page_size {size}: use 0 (the server's page length) or "
                              "a value of at least 150.")


def list_assignments(s: GrantService, a: Actor, request: Request, body: dict[str, Any]) -> Any:
    """databricks-sdk `grants.list` (the paged successor of `grants.get`)."""
    _page_size(request)
    return get_permissions(s, a, request, body)


def list_effective(s: GrantService, a: Actor, request: Request, body: dict[str, Any]) -> Any:
    """databricks-sdk `grants.list_effective` (the paged successor of `get_effective`)."""
    _page_size(request)
    found = get_effective(s, a, request, body)
    return {"effective_privilege_assignments": found["privilege_assignments"]}


def routes() -> list[BaseRoute]:
    where = "{securable_type}/{full_name}"
    return [
        Route(f"{PREFIX}/permissions/{where}", _endpoint(get_permissions), methods=["GET"]),
        Route(f"{PREFIX}/privilege-assignments/{where}", _endpoint(list_assignments),
              methods=["GET"]),
        Route(f"{PREFIX}/effective-privilege-assignments/{where}", _endpoint(list_effective),
              methods=["GET"]),
        Route(f"{PREFIX}/permissions/{where}", _endpoint(update_permissions),
              methods=["PATCH"]),
        Route(f"{PREFIX}/effective-permissions/{where}", _endpoint(get_effective),
              methods=["GET"]),
    ]
