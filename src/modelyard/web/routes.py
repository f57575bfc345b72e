"""The web UI's routes, and sign-in and sign-out."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from modelyard.api.auth import record_refusal, request_facts
from modelyard.domain.errors import ModelyardError, TooManyAttempts
from modelyard.web import catalog, governance, trash, webhooks, workspace
from modelyard.web.handlers import status_for
from modelyard.web.render import page
from modelyard.web.session import (
    SESSION_SECONDS,
    clear_session,
    current_actor,
    form,
    session_token_id,
    set_session,
)

STATIC = Path(__file__).with_name("static")
#: The sign-in and sign-out forms are read before anyone is known: a user name, a password or
#: token and a path fit many times over.
SIGNIN_FORM_LIMIT = 16 * 1024
_UC_MODEL = "/catalogs/{catalog}/{schema}/{model}"


class _StaticFiles(StaticFiles):
    """The UI's assets, which browsers must take for what their Content-Type says they are."""

    def file_response(self, full_path: PathLike, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never an open redirect to another site."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or \
            parts.path.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def signin_page(request: Request) -> Response:
    if not request.app.state.settings.auth:
        return RedirectResponse("/", status_code=303)
    return page(request, "signin.html", next=_safe_next(request.query_params.get("next")))


async def signin(request: Request) -> Response:
    state = request.app.state
    try:
        data = await form(request, SIGNIN_FORM_LIMIT)
    except ModelyardError as error:  # cross-site, too big, too many fields
        return page(request, "signin.html", status_code=status_for(error), error=str(error),
                    next="/")
    target = _safe_next(data.get("next"))
    if not state.settings.auth:
        return RedirectResponse(target, status_code=303)
    token, token_id = data.get("token", "").strip(), ""
    actor = None
    client = request_facts(request)[1]
    # Off the event loop: a password check (argon2) takes tens of milliseconds.
    wait = state.address_limit.take(client)  # None: a refusal reserved, released on success
    if token:
        actor = await run_in_threadpool(state.identity.authenticate_token, token)
        if actor is not None and wait is None:
            state.address_limit.release(client)
    elif data.get("username"):
        if wait is not None:  # too many refusals from this address: no password is checked
            await run_in_threadpool(_record_refusal, request, "authenticate.limited")
            return _throttled(request, wait, target, data["username"], "from your address")
        try:
            actor = await run_in_threadpool(state.identity.authenticate_password,
                                            data["username"].strip(), data.get("password", ""))
        except TooManyAttempts as error:
            await run_in_threadpool(_record_refusal, request, "authenticate.throttled")
            return _throttled(request, error.retry_after, target, data["username"],
                              "for this user name")
        if actor is not None:
            state.address_limit.release(client)
            # The password is never stored: the session carries a token that expires.
            new = await run_in_threadpool(state.identity.create_token, actor, SESSION_SECONDS,
                                          "web UI session")
            token, token_id = new.value, new.info.token_id
    if actor is None:
        if wait is not None:
            await run_in_threadpool(_record_refusal, request, "authenticate.limited")
            return _throttled(request, wait, target, data.get("username", ""),
                              "from your address")
        await run_in_threadpool(_record_refusal, request, "authenticate")
        return page(request, "signin.html", status_code=401, next=target,
                    error="Sign-in failed: check the token, or the user name and password.",
                    username=data.get("username", ""))
    response = RedirectResponse(target, status_code=303)
    set_session(response, request, token, token_id)
    return response


def _record_refusal(request: Request, action: str) -> None:
    record_refusal(request.app.state.units, request, action, "POST /signin")


def _throttled(request: Request, retry_after: int, target: str, username: str,
               whose: str) -> Response:
    minutes = math.ceil(retry_after / 60)
    response = page(request, "signin.html", status_code=429, next=target, username=username,
                    error=f"Too many failed sign-in attempts {whose}. Password "
                          f"sign-in is paused: try again in {minutes} minute"
                          f"{'s' if minutes != 1 else ''}, or sign in with a token.")
    response.headers["Retry-After"] = str(retry_after)
    return response


async def signout(request: Request) -> Response:
    try:
        await form(request, SIGNIN_FORM_LIMIT)
    except ModelyardError as error:  # cross-site, too big, too many fields
        return page(request, "error.html", status_code=status_for(error), message=str(error),
                    back="/")
    actor, token_id = await current_actor(request), session_token_id(request)
    if actor is not None and token_id and request.app.state.settings.auth:
        # Signing out must always clear the cookie, even if the token is already gone.
        with contextlib.suppress(ModelyardError):
            request.app.state.identity.delete_token(actor, token_id)
    response = RedirectResponse("/signin" if request.app.state.settings.auth else "/",
                                status_code=303)
    clear_session(response)
    return response


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico whatever the page says: the same icon."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


def routes() -> list[BaseRoute]:
    return [
        Route("/", workspace.explorer, methods=["GET"]),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Mount("/static", app=_StaticFiles(directory=STATIC), name="static"),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/prompts", workspace.prompts_page, methods=["GET"]),
        Route("/models/{name}", workspace.model_page, methods=["GET"]),
        Route("/models/{name}/compare", workspace.compare_page, methods=["GET"]),
        Route("/models/{name}/alias-check", workspace.alias_check, methods=["GET"]),
        Route("/models/{name}/{action}", workspace.model_action, methods=["POST"]),
        Route("/models/{name}/versions/{version}", workspace.version_page, methods=["GET"]),
        Route("/models/{name}/versions/{version}/{action}", workspace.version_action,
              methods=["POST"]),
        Route("/webhooks/{webhook_id}/deliveries", webhooks.deliveries_page, methods=["GET"]),
        Route("/policies", governance.policies_page, methods=["GET"]),
        Route("/policies/{action}", governance.policies_action, methods=["POST"]),
        Route("/trash", trash.trash_page, methods=["GET"]),
        Route("/trash/{action}", trash.trash_action, methods=["POST"]),
        Route("/catalogs", catalog.catalogs_page, methods=["GET"]),
        Route("/catalogs", catalog.metastore_action, methods=["POST"]),
        Route("/catalogs/{catalog}", catalog.catalog_page, methods=["GET"]),
        Route("/catalogs/{catalog}", catalog.catalog_action, methods=["POST"]),
        Route("/catalogs/{catalog}/{schema}", catalog.schema_page, methods=["GET"]),
        Route("/catalogs/{catalog}/{schema}", catalog.schema_action, methods=["POST"]),
        Route(_UC_MODEL, catalog.uc_model_page, methods=["GET"]),
        Route(_UC_MODEL + "/compare", catalog.uc_compare_page, methods=["GET"]),
        Route(_UC_MODEL + "/alias-check", catalog.uc_alias_check, methods=["GET"]),
        Route(_UC_MODEL + "/{action}", catalog.uc_model_action, methods=["POST"]),
        Route(_UC_MODEL + "/versions/{version}", catalog.uc_version_page, methods=["GET"]),
        Route(_UC_MODEL + "/versions/{version}/{action}", catalog.uc_version_action,
              methods=["POST"]),
    ]
