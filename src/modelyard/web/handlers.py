"""What every page and form handler shares: the actor, errors as pages, redirects."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from modelyard.domain.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from modelyard.services.context import Actor
from modelyard.web.render import page
from modelyard.web.session import current_actor

Handler = Callable[[Request, Actor], Awaitable[Response]]
log = logging.getLogger("modelyard")

_STATUS: list[tuple[type[ModelyardError], int]] = [
    (NotFound, 404), (PermissionDenied, 403), (Unauthenticated, 401), (AlreadyExists, 409),
    (Conflict, 409), (FailedPrecondition, 400), (InvalidArgument, 400),
    (PayloadTooLarge, 413), (Unavailable, 503),
]


def status_for(error: ModelyardError) -> int:
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 400)


async def run_page(request: Request, handler: Handler, actor: Actor) -> Response:
    """Run a page's handler as the API's run (the composition root's handler runner, when it
    has one): its writes then wait for the database as an API request's do, never blocking the
    event loop while other requests' writes are in progress (store/group_commit.py)."""
    runner = getattr(request.app.state, "cooperative", None)
    if runner is None:
        return await handler(request, actor)
    response: Response = await runner(handler, request, actor)
    return response


def web(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Resolve the actor (or send to sign-in) and show service errors as an error page."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            actor = await current_actor(request)
            if actor is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method != "GET":
                    target = request.headers.get("referer", "/")
                return RedirectResponse("/signin?" + urlencode({"next": target}), status_code=303)
            request.state.actor = actor
            return await run_page(request, handler, actor)
        except ModelyardError as error:
            response = page(request, "error.html", status_code=status_for(error),
                            message=str(error), back=request.headers.get("referer", "/"))
            if isinstance(error, Unavailable):
                response.headers["Retry-After"] = str(error.retry_after)
            return response

    return endpoint


def web_json(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """For the pages' own scripts: a JSON answer; a service's refusal becomes
    `{"ok": false, "message": …}` so the page can show it where the user is looking."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        actor = await current_actor(request)
        if actor is None:
            return JSONResponse({"ok": False, "message": "Sign in again: the session ended."},
                                status_code=401)
        request.state.actor = actor
        try:
            return await run_page(request, handler, actor)
        except ModelyardError as error:
            return JSONResponse({"ok": False, "message": str(error)},
                                headers={"Cache-Control": "no-store"})

    return endpoint


def json_ok(**fields: object) -> JSONResponse:
    return JSONResponse({"ok": True, **fields}, headers={"Cache-Control": "no-store"})


def error_page(request: Request, status: int, message: str,
               headers: Mapping[str, str] | None = None) -> Response:
    """The page for what no handler answered: an unknown page (404), a method a page does
    not take (405), an unhandled error (500)."""
    try:
        response: Response = page(request, "error.html", status_code=status, message=message,
                                  back="/")
    except Exception:  # the templates themselves may be what fails
        log.exception("the error page could not be rendered")
        response = HTMLResponse(f"<!doctype html><title>Error</title><h1>Something is not "
                                f"right</h1><p>{html.escape(message)}</p>",
                                status_code=status,
                                headers={"X-Content-Type-Options": "nosniff"})
    if headers:
        response.headers.update(headers)
    return response


def back_to(path: str, notice: str = "") -> RedirectResponse:
    """After a successful form post: see the page again (post/redirect/get)."""
    joiner = "&" if "?" in path else "?"
    suffix = f"{joiner}{urlencode({'notice': notice})}" if notice else ""
    return RedirectResponse(path + suffix, status_code=303)


def url_part(value: object) -> str:
    return quote(str(value), safe="")


def model_url(name: str) -> str:
    return f"/models/{url_part(name)}"


def version_url(name: str, version: int | str) -> str:
    return f"{model_url(name)}/versions/{url_part(version)}"


def uc_url(full_name: str, version: int | str | None = None) -> str:
    path = "/catalogs/" + "/".join(url_part(part) for part in full_name.split("."))
    return path if version is None else f"{path}/versions/{url_part(version)}"


@dataclass(frozen=True)
class MetadataCalls:
    """One object's metadata changes, as the service calls of its registry: the description,
    tag and alias forms are the same on every model and version page of either registry."""

    describe: Callable[[str], object]
    set_tag: Callable[[str, str], object]
    delete_tag: Callable[[str], object]
    set_alias: Callable[[str, str], object] | None = None  # models only
    delete_alias: Callable[[str], object] | None = None


def metadata_action(action: str, data: Mapping[str, str], calls: MetadataCalls,
                    here: str) -> Response | None:
    """Do a description, tag or alias form's `action` and redirect back to `here`; None when
    `action` is none of those."""
    key = data.get("key", "")
    if action == "description":
        calls.describe(data.get("description", ""))
        return back_to(here, "Description saved.")
    if action == "tag":
        calls.set_tag(key, data.get("value", ""))
        return back_to(here, f"Tag {key} set.")
    if action == "untag":
        calls.delete_tag(key)
        return back_to(here, f"Tag {key} removed.")
    if action == "alias" and calls.set_alias is not None:
        alias, version = data.get("alias", "").strip(), data.get("version", "").strip()
        calls.set_alias(alias, version)
        return back_to(here, f"@{alias} now points to version {version}.")
    if action == "unalias" and calls.delete_alias is not None:
        calls.delete_alias(data.get("alias", ""))
        return back_to(here, f"Alias @{data.get('alias', '')} removed.")
    return None
