"""The ASGI application: every surface mounted over one set of services."""

from __future__ import annotations

import gc
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from modelyard.api.databricks_uc import wiring as databricks_uc
from modelyard.api.http import JSONResponse
from modelyard.api.identity import wiring as identity
from modelyard.api.input_guard import RefuseNul
from modelyard.api.mlflow import errors as mlflow_errors
from modelyard.api.mlflow import routes as mlflow_routes
from modelyard.api.routing import IndexedRouter
from modelyard.api.unity_catalog import errors as uc_errors
from modelyard.api.unity_catalog import wiring as unity_catalog
from modelyard.config import Settings
from modelyard.domain.errors import ModelyardError, Unavailable
from modelyard.services.context import LOCAL_ADMIN, Actor
from modelyard.services.maintenance import start_table_upkeep
from modelyard.services.registry import RegistryService
from modelyard.services.tracking import TrackingService
from modelyard.services.unit_of_work import UnitOfWorkFactory
from modelyard.store.database import Database
from modelyard.web import routes as web_routes
from modelyard.web.handlers import status_for
from modelyard.web.render import page

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


#: Paths answered in Unity Catalog's envelope; other /api/ paths in MLflow's (which
#: databricks-sdk reads too); the rest are the web UI's pages.
_UC_PATHS = ("/api/2.1/unity-catalog/", "/api/modelyard/v1/uc/")
_API_PATHS = ("/api/", "/.well-known/", "/health")


def error_for_path(scope: Scope, error: ModelyardError) -> Response:
    """A domain error in the format of the surface the request's path belongs to: for what
    is refused before any surface's own handler runs (api/input_guard.py), or escapes it."""
    path: str = scope["path"]
    if path.startswith(_UC_PATHS):
        return uc_errors.domain_error_response(error)
    if path.startswith(_API_PATHS):
        return mlflow_errors.domain_error_response(error)
    response = page(Request(scope), "error.html", status_code=status_for(error),
                    message=error.message, back="/")
    if isinstance(error, Unavailable):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelyardError)
    return error_for_path(request.scope, exc)


def _local_admin(request: Request) -> Actor:
    return LOCAL_ADMIN


def routes() -> list[BaseRoute]:
    """Every route of every surface, in the order they are matched."""
    return [Route("/health", health, methods=["GET"]), *mlflow_routes.routes(),
            *unity_catalog.routes(), *identity.routes(), *databricks_uc.routes(),
            *web_routes.routes()]


def create_app(settings: Settings, database: Database | None = None) -> Starlette:
    database = database or Database(settings.resolved_database_url)
    app = Starlette(
        exception_handlers={HTTPException: _not_found, ModelyardError: _domain_error,
                            Exception: _internal_error},
        middleware=[Middleware(RefuseNul, refuse=error_for_path)],
    )
    app.router = IndexedRouter(routes())  # before the first request builds the stack on it
    app.state.settings = settings
    app.state.database = database
    # Handlers' point reads let other requests run while PostgreSQL answers (store/cooperative.py);
    # SQLite answers in-process, with nothing to wait for.
    app.state.cooperative = database.dialect == "postgresql"
    app.state.units = UnitOfWorkFactory(database, settings.audit_refusals_per_minute,
                                        settings.audit_refusal_window)
    app.state.registry = RegistryService(app.state.units)
    app.state.authenticate = _local_admin
    app.state.tracking = TrackingService.from_settings(settings)  # read by the web pages only
    unity_catalog.attach(app, settings)
    databricks_uc.attach(app)  # needs app.state.uc_models
    identity.attach(app, settings)  # sets app.state.authenticate
    if database.dialect == "postgresql":
        app.state.table_upkeep = start_table_upkeep(database)
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
