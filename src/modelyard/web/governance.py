"""The policies page and the alias-request forms of the model pages (issue 20)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.domain.errors import InvalidArgument
from modelyard.services.context import Actor
from modelyard.web.handlers import back_to, web
from modelyard.web.render import page
from modelyard.web.session import form


@web
async def policies_page(request: Request, actor: Actor) -> Response:
    return page(request, "policies.html", policies=request.app.state.policies.list(actor),
                section="policies")


@web
async def policies_action(request: Request, actor: Actor) -> Response:
    data = await form(request)
    service = request.app.state.policies
    action = request.path_params["action"]
    if action == "create":
        approvals = data.get("approvals", "").strip() or "0"
        if not approvals.isdigit():
            raise InvalidArgument(f"Invalid approvals {approvals!r}: a whole number.")
        policy = service.create(actor, data.get("name", "").strip(),
                                data.get("scope", "").strip(),
                                data.get("alias", "").strip() or None,
                                data.get("stage", "").strip() or None,
                                data.get("require", ""), int(approvals))
        return back_to("/policies", f"Policy {policy.name} created.")
    if action == "delete":
        service.delete(actor, data.get("name", ""))
        return back_to("/policies", f"Policy {data.get('name', '')} deleted.")
    raise InvalidArgument(f"Unknown action {action!r}.")


def alias_requests(state: Any, actor: Actor, name: str) -> list[Any]:
    """The model's alias requests, newest first, for its page."""
    result: list[Any] = state.alias_requests.list(actor, name)
    return result


def alias_request_action(state: Any, actor: Actor, name: str, action: str,
                         data: Mapping[str, str], here: str) -> Response | None:
    """Do an alias-request form's `action` on model `name`; None for other actions."""
    service = state.alias_requests
    alias = data.get("alias", "").strip()
    if action == "alias-request":
        created = service.create(actor, name, alias, data.get("version", "").strip(),
                                 data.get("reason", ""))
        return back_to(here, f"Request {created.id} to move @{alias} to version "
                             f"{created.version} created.")
    steps = {"alias-approve": service.approve, "alias-reject": service.reject,
             "alias-cancel": service.cancel}
    if action in steps:
        done = steps[action](actor, name, alias, data.get("request", ""),
                             data.get("comment", ""))
        return back_to(here, f"Request {done.id}: {done.state}.")
    return None
