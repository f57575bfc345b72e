"""The ASGI application: every surface mounted over one set of services."""

from __future__ import annotations

import gc
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.api.audit import routes as audit_routes
from modelyard.api.auth import Authenticator
from modelyard.api.databricks_uc import files as databricks_files
from modelyard.api.databricks_uc import routes as databricks_routes
from modelyard.api.http import JSONResponse
from modelyard.api.identity import grants as grant_routes
from modelyard.api.identity import routes as identity_routes
from modelyard.api.mlflow import routes as mlflow_routes
from modelyard.api.routing import IndexedRouter
from modelyard.api.unity_catalog import files as uc_files
from modelyard.api.unity_catalog import routes as uc_routes
from modelyard.api.unity_catalog import tags as uc_tags
from modelyard.api.workspace import routes as workspace_routes
from modelyard.api.workspace import webhooks as webhook_routes
from modelyard.bootstrap import bootstrap
from modelyard.config import Settings
from modelyard.store.database import Database
from modelyard.web import routes as web_routes

log = logging.getLogger("modelyard")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    code = "ENDPOINT_NOT_FOUND" if status == 404 else "BAD_REQUEST"
    message = (f"No endpoint {request.method} {request.url.path}" if status == 404
               else f"{request.method} is not allowed on {request.url.path}")
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error_code": "INTERNAL_ERROR", "message": "Internal error; see the server log."},
        status_code=500,
    )


def routes() -> list[BaseRoute]:
    """Every route of every surface, in the order they are matched."""
    return [Route("/health", health, methods=["GET"]), *mlflow_routes.routes(),
            *uc_routes.routes(), *uc_tags.routes(), *uc_files.routes(),
            *identity_routes.routes(), *workspace_routes.routes(), *audit_routes.routes(),
            *grant_routes.routes(), *webhook_routes.routes(),
            *databricks_routes.routes(), *databricks_files.routes(),
            *web_routes.routes()]


def create_app(settings: Settings, database: Database | None = None) -> Starlette:
    """The server's parts (modelyard/bootstrap.py) behind every surface's routes."""
    app = Starlette(
        exception_handlers={HTTPException: _not_found, Exception: _internal_error},
    )
    app.router = IndexedRouter(routes())  # before the first request builds the stack on it
    built = bootstrap(settings, database)
    for name, value in vars(built).items():
        setattr(app.state, name, value)
    # Authentication is the HTTP adapters' own (api/auth.py), over the identity service.
    app.state.authenticate = Authenticator(built.identity, built.units, settings.auth)
    _settle_heap()
    return app


def _settle_heap() -> None:
    """Keep Python's cycle collector off the start-up heap and out of most requests.

    What start-up built (modules, routes, tables, compiled statements) lives as long as the
    process, yet every full collection walked it again; and with the default threshold (700
    allocations) a 100-model search set off several collections. Freezing that heap and
    collecting young objects every 10,000 allocations cut a search's server CPU by ~25% with
    the same RSS (bench/, issue 6). Reference counting still frees everything without cycles
    at once. No collection first: at this point one found ~260 objects to free and cost 30-60 ms
    of the start.
    """
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def app_from_env() -> Starlette:
    """Factory for uvicorn worker processes: the CLI passes settings through the environment."""
    return create_app(Settings.from_env())
