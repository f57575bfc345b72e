"""The endpoints for operators and their tools: liveness, readiness, metrics, the API document.

- `GET /health`: the process serves HTTP (liveness); nothing else is asked.
- `GET /ready`: 200 when the database answers at the expected schema revisions and the artifact
  store answers, else 503; the body says which check failed.
- `GET /metrics`: Prometheus' text format; with a metrics token set, only for
  `Authorization: Bearer <token>`.
- `GET /openapi.json`: the OpenAPI document of every route (api/openapi.py).
"""

from __future__ import annotations

import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.api import openapi
from modelyard.api.http import JSONResponse
from modelyard.observability.metrics import CONTENT_TYPE
from modelyard.services.operations import OperationsService


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    operations: OperationsService = request.app.state.operations
    readiness = await run_in_threadpool(operations.readiness)
    return JSONResponse({"status": "ready" if readiness.ready else "unavailable",
                         "checks": readiness.checks},
                        status_code=200 if readiness.ready else 503)


async def metrics(request: Request) -> Response:
    exposition = request.app.state.metrics
    if exposition is None:
        return JSONResponse({"error_code": "ENDPOINT_NOT_FOUND",
                             "message": "Metrics are off on this server (--no-metrics)."},
                            status_code=404)
    token: str | None = request.app.state.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return JSONResponse(
                {"error_code": "UNAUTHENTICATED",
                 "message": "/metrics needs 'Authorization: Bearer <the metrics token>' "
                            "(the server's --metrics-token)."},
                status_code=401, headers={"WWW-Authenticate": "Bearer"})
    # This worker's requests since its last flush (on the event loop's thread, where they
    # are counted); then the scrape, which reads the webhook outbox, off the event loop.
    request.app.state.request_metrics.flush()
    body = await run_in_threadpool(exposition.render)
    return Response(body, media_type=CONTENT_TYPE)


async def openapi_document(request: Request) -> Response:
    return Response(openapi.document_bytes(request.app.router.routes),
                    media_type="application/json")


def routes() -> list[BaseRoute]:
    return [Route("/health", health, methods=["GET"]), Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi_document, methods=["GET"])]
