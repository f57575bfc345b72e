"""The ASGI application: every surface mounted over one set of services."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from modelyard.api import fallback, operations
from modelyard.api.audit import routes as audit_routes
from modelyard.api.auth import Authenticator
from modelyard.api.databricks_uc import files as databricks_files
from modelyard.api.databricks_uc import prompts as databricks_prompts
from modelyard.api.databricks_uc import routes as databricks_routes
from modelyard.api.history import routes as history_routes
from modelyard.api.history import stream as stream_routes
from modelyard.api.identity import grants as grant_routes
from modelyard.api.identity import routes as identity_routes
from modelyard.api.imports import routes as import_routes
from modelyard.api.in_flight import InFlight
from modelyard.api.input_guard import RefuseNul
from modelyard.api.mlflow import routes as mlflow_routes
from modelyard.api.mlflow import webhooks as mlflow_webhook_routes
from modelyard.api.policies import routes as policy_routes
from modelyard.api.routing import IndexedRouter
from modelyard.api.scans import routes as scan_routes
from modelyard.api.signing import routes as signing_routes
from modelyard.api.trash import routes as trash_routes
from modelyard.api.unity_catalog import files as uc_files
from modelyard.api.unity_catalog import routes as uc_routes
from modelyard.api.unity_catalog import tags as uc_tags
from modelyard.api.workspace import deliveries as delivery_routes
from modelyard.api.workspace import routes as workspace_routes
from modelyard.api.workspace import webhooks as webhook_routes
from modelyard.bootstrap import build, start_background
from modelyard.config import Settings
from modelyard.domain.errors import ModelyardError, Unavailable
from modelyard.observability import metrics, tracing
from modelyard.observability.requests import RequestObserver
from modelyard.services.address_limit import AddressLimit
from modelyard.services.operations import OperationsService
from modelyard.store.database import Database
from modelyard.web import routes as web_routes
from modelyard.web.handlers import error_page, status_for

log = logging.getLogger("modelyard")
_ANSWERED = "modelyard.error_answered"


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    headers = exc.headers if isinstance(exc, HTTPException) else None
    router = request.app.router
    if status == 405 and isinstance(router, IndexedRouter):
        headers = {"Allow": ", ".join(router.allowed_methods(request.url.path))}
    if fallback.is_api(request.url.path):
        return fallback.no_endpoint(request, status, headers)
    message = ("There is no such page." if status == 404
               else f"{request.method} is not allowed on {request.url.path}.")
    return error_page(request, status, message, headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    if fallback.is_api(request.url.path):
        response = fallback.internal_error(request)
    else:
        response = error_page(request, 500, "Internal error; see the server log.")
    # Runs once the answer is sent: the error need not reach uvicorn then (ModelyardApp).
    response.background = BackgroundTask(_answered, request.scope)
    return response


def error_for_path(scope: Scope, error: ModelyardError) -> Response:
    """A domain error in the format of the surface the request's path belongs to: for what is
    refused before any surface's handler runs (api/input_guard.py), or escapes it."""
    request = Request(scope)
    if fallback.is_api(request.url.path):
        return fallback.domain_error(request, error)
    headers = ({"Retry-After": str(error.retry_after)} if isinstance(error, Unavailable)
               else None)
    return error_page(request, status_for(error), error.message, headers)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelyardError)
    return error_for_path(request.scope, exc)


async def _answered(scope: Scope) -> None:
    scope[_ANSWERED] = True


async def _client_left(request: Request, exc: Exception) -> Response:
    # Not an error of ours: one line, no traceback.
    client = request.client
    log.info("the connection from %s closed before the whole body of %s %s arrived (the "
             "client left, or sent nothing for --body-timeout seconds)",
             f"{client.host}:{client.port}" if client else "?", request.method,
             request.url.path)
    return Response(status_code=400)  # nobody is there to read it


class AppState(State):
    """`app.state` with its parts as plain attributes. Starlette's `State` keeps them in a
    dict behind `__getattr__`, so each read first failed an ordinary lookup (an AttributeError
    made and dropped) and then ran a Python call: five per request."""

    def __setattr__(self, key: Any, value: Any) -> None:
        object.__setattr__(self, key, value)
        self._state[key] = value  # what State's item access, iteration and len() read

    def __delattr__(self, key: Any) -> None:
        object.__delattr__(self, key)
        del self._state[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.__setattr__(key, value)

    def __delitem__(self, key: str) -> None:
        self.__delattr__(key)


class ModelyardApp(Starlette):
    """Starlette, but an error already answered with a 500 goes no further.

    Starlette raises every unhandled error again after its handler answered, for the server
    to log; uvicorn then closed the connection after an answer that had not said so, and the
    client's next request on it failed. The handler logged the error: the connection stays
    usable. An error after a response began still reaches uvicorn, which must close it.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        try:
            await self.middleware_stack(scope, receive, send)
        except Exception:
            if not scope.get(_ANSWERED):
                raise


def routes() -> list[BaseRoute]:
    """Every route of every surface, in the order they are matched."""
    return [*operations.routes(), *mlflow_webhook_routes.routes(), *mlflow_routes.routes(),
            *uc_routes.routes(), *uc_tags.routes(), *uc_files.routes(),
            *identity_routes.routes(), *workspace_routes.routes(), *audit_routes.routes(),
            *grant_routes.routes(), *webhook_routes.routes(), *delivery_routes.routes(),
            *history_routes.routes(), *stream_routes.routes(),
            *databricks_routes.routes(), *databricks_prompts.routes(),
            *databricks_files.routes(), *import_routes.routes(),
            *policy_routes.routes(), *scan_routes.routes(), *signing_routes.routes(),
            *trash_routes.routes(),
            *web_routes.routes()]


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    # Stopping: open event streams end (on our own HTTP protocol they ended already, when the
    # server started stopping: api/http_protocol.py server_stopping).
    app.state.events.close()
    # Stopping: uploads cut off after the graceful period remove what they staged
    # (api/in_flight.py).
    await app.state.in_flight.settle()


def create_app(settings: Settings, database: Database | None = None) -> Starlette:
    """The server's parts (modelyard/bootstrap.py) behind every surface's routes."""
    app = ModelyardApp(
        exception_handlers={HTTPException: _not_found, ClientDisconnect: _client_left,
                            ModelyardError: _domain_error, Exception: _internal_error},
        middleware=[Middleware(RefuseNul, refuse=error_for_path)],
    )
    app.state = AppState()
    # Before the first request builds the stack on it.
    app.router = IndexedRouter(routes(), lifespan=_lifespan)
    # Built first, its workers started last: the metrics' engine listeners must be in place
    # before any worker thread uses the engine (SQLAlchemy's listener lists are not safe to
    # change while another thread runs them: "deque mutated during iteration").
    built = build(settings, database)
    for name, value in vars(built).items():
        setattr(app.state, name, value)
    # Authentication is the HTTP adapters' own (api/auth.py), over the identity service.
    app.state.address_limit = AddressLimit(settings.refusal_limit)  # refusals per address
    app.state.authenticate = Authenticator(built.identity, built.units, settings.auth,
                                           app.state.address_limit)
    app.state.in_flight = InFlight()
    _observe(app, settings, built.database)
    start_background(built)
    _settle_heap()
    return app


def _observe(app: Starlette, settings: Settings, database: Database) -> None:
    """Metrics, the request log and traces: the outermost layer of the app, around Starlette's
    own error handling, so that it sees every answer, a 500 too."""
    request_metrics = None
    app.state.metrics = None
    if settings.metrics:
        metrics.instrument_engine(database.engine)
        operations_service: OperationsService = app.state.operations

        def scraped() -> list[Any]:
            try:
                return metrics.outbox_gauges(*operations_service.outbox_state())
            except Exception:
                log.warning("metrics: could not read the webhook outbox", exc_info=True)
                return metrics.scrape_failed("webhook_outbox")

        app.state.metrics = metrics.Exposition(scraped)
        request_metrics = metrics.RequestMetrics()
    app.state.request_metrics = request_metrics
    tracer = None
    if tracing.enabled():
        tracer = tracing.RequestTracer()
        app.state.tracer = tracer
    app.middleware_stack = RequestObserver(app.build_middleware_stack(), request_metrics,
                                           log_requests=settings.log_format == "json",
                                           tracer=tracer)


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
