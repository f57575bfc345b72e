"""What every page and form handler shares: the actor, errors as pages, redirects."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard.domain.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    ModelyardError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from modelyard.services.context import Actor
from modelyard.web.render import page
from modelyard.web.session import current_actor

Handler = Callable[[Request, Actor], Awaitable[Response]]

_STATUS: list[tuple[type[ModelyardError], int]] = [
    (NotFound, 404), (PermissionDenied, 403), (Unauthenticated, 401), (AlreadyExists, 409),
    (Conflict, 409), (FailedPrecondition, 400), (InvalidArgument, 400), (Unavailable, 503),
]


def status_for(error: ModelyardError) -> int:
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 400)


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
            return await handler(request, actor)
        except ModelyardError as error:
            response = page(request, "error.html", status_code=status_for(error),
                            message=str(error), back=request.headers.get("referer", "/"))
            if isinstance(error, Unavailable):
                response.headers["Retry-After"] = str(error.retry_after)
            return response

    return endpoint


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
