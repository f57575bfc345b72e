"""The trash page: deleted models and versions (restore, purge) and legal holds (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.domain.errors import InvalidArgument
from modelyard.services.context import Actor
from modelyard.services.trash import TrashService
from modelyard.web.handlers import back_to, web
from modelyard.web.render import page
from modelyard.web.session import form


def _service(request: Request) -> TrashService:
    service: TrashService = request.app.state.trash
    return service


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


@web
async def trash_page(request: Request, actor: Actor) -> Response:
    service = _service(request)
    return page(request, "trash.html", items=service.contents(actor), holds=service.holds(actor),
                when=_when, section="trash")


@web
async def trash_action(request: Request, actor: Actor) -> Response:
    data = await form(request)
    service = _service(request)
    action = request.path_params["action"]
    name = data.get("name", "").strip()
    version = data.get("version", "").strip() or None
    registry = data.get("registry", "").strip() or None
    label = name if version is None else f"{name}/{version}"
    if action == "restore":
        service.restore(actor, name, version, registry)
        return back_to("/trash", f"Restored {label}.")
    if action == "purge":
        await run_in_threadpool(service.purge, actor, name, version, registry)
        return back_to("/trash", f"Purged {label} for good.")
    if action == "hold":
        service.set_hold(actor, name, version, data.get("reason", ""), registry)
        return back_to("/trash", f"Legal hold set on {label}.")
    if action == "release":
        service.release_hold(actor, name, version, registry)
        return back_to("/trash", f"Legal hold on {label} released.")
    raise InvalidArgument(f"Unknown action {action!r}.")
