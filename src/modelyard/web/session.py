"""Who is using the browser, and protection of its form posts.

Without `--auth` every page acts as the local admin. With it, signing in (a token, or a user
name and password exchanged for a short-lived token) stores the token in an HttpOnly,
SameSite=Strict cookie; each request authenticates it again through the identity service, so
nothing lives in process memory and any replica can serve any request.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.http import read_body
from modelyard.api.input_guard import nul_error, nul_in
from modelyard.domain.errors import InvalidArgument, PermissionDenied
from modelyard.observability.requests import PRINCIPAL
from modelyard.services.context import LOCAL_ADMIN, Actor

COOKIE = "modelyard_session"
SESSION_SECONDS = 8 * 3600
_MAX_FIELDS = 100


async def current_actor(request: Request) -> Actor | None:
    """The signed-in actor, the local admin without auth, or None (sign in first). A token not
    checked in the last few seconds is looked up in a worker thread, off the event loop."""
    if not request.app.state.settings.auth:
        return LOCAL_ADMIN
    token = session_token(request)
    if not token:
        return None
    identity = request.app.state.identity
    actor: Actor | None = identity.cached_token(token)
    if actor is None:
        actor = await run_in_threadpool(identity.authenticate_token, token)
    if actor is not None:
        request.scope[PRINCIPAL] = actor.name  # for the request's log line
    return actor


def session_token(request: Request) -> str:
    raw = request.cookies.get(COOKIE, "")
    _, _, token = raw.rpartition(":")
    return token


def session_token_id(request: Request) -> str:
    """The id of a token the UI created at password sign-in (revoked at sign-out)."""
    raw = request.cookies.get(COOKIE, "")
    return raw.split(":", 1)[0] if raw.count(":") == 1 else ""


def set_session(response: Response, request: Request, token: str, token_id: str = "") -> None:
    value = f"{token_id}:{token}" if token_id else token
    response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def check_same_origin(request: Request) -> None:
    """CSRF: a form post must come from a page of this server (Origin, else Referer)."""
    expected = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is None:
        referer = urlsplit(request.headers.get("referer", ""))
        origin = f"{referer.scheme}://{referer.netloc}" if referer.netloc else ""
    if origin != expected:
        raise PermissionDenied("This form was not sent from a Modelyard page "
                               "(cross-site request refused).")


async def form(request: Request, limit: int | None = None) -> dict[str, str]:
    """An urlencoded form post, same-origin checked; the last value wins for repeated keys.
    A body over `limit` bytes (default: `serve --max-body-size`) raises PayloadTooLarge before
    more of it is read or any of it parsed."""
    check_same_origin(request)
    raw = await read_body(request, limit)
    body = raw.decode("utf-8", errors="replace")
    try:
        # No form of the UI has nearly this many fields; parsing a body of nothing but
        # separators field by field is what made a big sign-in form hold the event loop.
        fields = parse_qs(body, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        raise InvalidArgument(f"The form has more than {_MAX_FIELDS} fields.") from None
    found = {key: values[-1] for key, values in fields.items()}
    if ("%00" in body or "\x00" in body) and (field := nul_in(found, "")):
        raise nul_error(field)  # no text column of PostgreSQL can hold it (api/input_guard.py)
    return found
