"""Unity Catalog grants: GET/PATCH /permissions/{type}/{name} and GET /effective-permissions.

Privileges are read in either spelling (`USE_CATALOG`, `USE CATALOG`) and answered in the
caller's: databricks-sdk gets the Databricks enum (underscores), everyone else the OSS spelling
(spaces), leaving out the privileges the OSS enum does not know (unitycatalog-client would
refuse them). Errors use Unity Catalog's envelope.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.endpoint import Dialect
from modelyard.api.unity_catalog.errors import domain_error_response, error_response
from modelyard.api.unity_catalog.params import Params
from modelyard.domain.access import Privilege
from modelyard.domain.errors import InvalidArgument
from modelyard.services.context import Actor
from modelyard.services.grants import Assignment, EffectivePrivilege, GrantService, parse_change

PREFIX = "/api/2.1/unity-catalog"
_OSS = frozenset({Privilege.CREATE_CATALOG, Privilege.USE_CATALOG, Privilege.CREATE_SCHEMA,
                  Privilege.USE_SCHEMA, Privilege.CREATE_FUNCTION, Privilege.EXECUTE,
                  Privilege.CREATE_MODEL})


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


class GrantParams(Params):
    """Unity Catalog's parameters, plus the spelling the caller reads privileges in."""

    def __init__(self, path: dict[str, Any], query: dict[str, str], body: dict[str, Any],
                 databricks: bool):
        super().__init__(path, query, body)
        self.databricks = databricks

    @classmethod
    async def read(cls, request: Request) -> GrantParams:
        params = await Params.from_request(request)
        return cls(params.path, params.query, params.body,
                   _databricks(request))


_DIALECT: Dialect[GrantParams] = Dialect(
    read_params=GrantParams.read,
    target=lambda request: request.app.state.grants,
    domain_error=domain_error_response,
    malformed_body=lambda message: error_response("INVALID_ARGUMENT", message, 400),
)


def _where(params: GrantParams) -> tuple[str, str]:
    return params.path_str("securable_type"), params.path_str("full_name")


def get_permissions(grants: GrantService, actor: Actor, params: GrantParams) -> Any:
    found = grants.get(actor, *_where(params), params.optional_str("principal") or None)
    return _assignments(found, params.databricks)


def update_permissions(grants: GrantService, actor: Actor, params: GrantParams) -> Any:
    changes = params.get("changes") or []
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise InvalidArgument("'changes' must be a list of {principal, add, remove} objects.")
    parsed = [parse_change(c.get("principal"), c.get("add"), c.get("remove")) for c in changes]
    return _assignments(grants.update(actor, *_where(params), parsed), params.databricks)


def get_effective(grants: GrantService, actor: Actor, params: GrantParams) -> Any:
    found = grants.effective(actor, *_where(params), params.optional_str("principal") or None)
    return _effective(found, params.databricks)


def _page_size(params: GrantParams) -> None:
    """Databricks' rule for the paged grant lists: 0 (the server's page) or at least 150.
    Every assignment fits in the one page this answers."""
    raw = params.optional_str("page_size")
    if raw is None:
        return
    try:
        size = int(raw)
    except ValueError:
        raise InvalidArgument(f"Invalid page_size {raw!r}: expected an integer.") from None
    if size < 0 or 0 < size < 150:
        raise InvalidArgument(f"Invalid page_size {size}: use 0 (the server's page length) or "
                              "a value of at least 150.")


def list_assignments(grants: GrantService, actor: Actor, params: GrantParams) -> Any:
    """databricks-sdk `grants.list` (the paged successor of `grants.get`)."""
    _page_size(params)
    return get_permissions(grants, actor, params)


def list_effective(grants: GrantService, actor: Actor, params: GrantParams) -> Any:
    """databricks-sdk `grants.list_effective` (the paged successor of `get_effective`)."""
    _page_size(params)
    found = get_effective(grants, actor, params)
    return {"effective_privilege_assignments": found["privilege_assignments"]}


def routes() -> list[BaseRoute]:
    where = "{securable_type}/{full_name}"
    endpoint = _DIALECT.endpoint
    return [
        Route(f"{PREFIX}/permissions/{where}", endpoint(get_permissions), methods=["GET"]),
        Route(f"{PREFIX}/privilege-assignments/{where}", endpoint(list_assignments),
              methods=["GET"]),
        Route(f"{PREFIX}/effective-privilege-assignments/{where}", endpoint(list_effective),
              methods=["GET"]),
        Route(f"{PREFIX}/permissions/{where}", endpoint(update_permissions),
              methods=["PATCH"]),
        Route(f"{PREFIX}/effective-permissions/{where}", endpoint(get_effective),
              methods=["GET"]),
    ]
