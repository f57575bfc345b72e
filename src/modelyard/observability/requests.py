"""The outermost layer of the ASGI app: request id, metrics, the JSON request log, traces.

Every request gets an id: the client's `X-Request-Id` when it sends a sensible one (1-128
visible ASCII characters), else 16 random hex digits. It is put in the ASGI scope (the audit
trail reads it from there), returned in the response's `X-Request-Id` header, and written in the
request's log line. The route template comes from `scope["route"]`, which the router sets.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.observability.metrics import RequestMetrics

#: The scope keys this layer sets (the request id, as bytes), and the one the authentication
#: sets for the log.
REQUEST_ID = "modelyard.request_id"
PRINCIPAL = "modelyard.principal"

_SENSIBLE_ID = re.compile(rb"[!-~]{1,128}").fullmatch
#: Made-up request ids: 16 hex digits, counting from a random start in each process (a
#: counter costs less than os.urandom per request, and two processes' ids do not meet).
_new_ids = itertools.count(int.from_bytes(os.urandom(8)) >> 2)
_HEADER = b"x-request-id"
access_log = logging.getLogger("modelyard.access")


def route_template(scope: Scope) -> str:
    """The path pattern of the route that answered (`/api/2.0/mlflow/model-versions/get`,
    `/api/2.1/unity-catalog/models/{full_name}`); "unmatched" when none did."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if path is not None else "unmatched"


class RequestObserver:
    """ASGI middleware; `metrics` None: no metrics, `log_requests`: one log record each,
    `tracer`: an OpenTelemetry tracer (observability.tracing) or None."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics | None, log_requests: bool,
                 tracer: Any = None) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                if _SENSIBLE_ID(value):
                    request_id = value
                break
        if request_id is None:
            request_id = b"%016x" % next(_new_ids)
        scope[REQUEST_ID] = request_id
        status = 500  # unless a response starts: an exception escaped every handler
        id_header = (_HEADER, request_id)

        def send_with_id(message: Message) -> Any:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message["headers"], id_header]
            return send(message)

        metrics = self.metrics
        span = self.tracer.start(scope) if self.tracer is not None else None
        if metrics is not None:
            metrics.started()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            if metrics is not None:
                metrics.finished(route, scope["method"], status, seconds)
            if span is not None:
                self.tracer.end(span, route, status)
            if self.log_requests:
                _log(scope, route, status, seconds)


def _log(scope: Scope, route: str, status: int, seconds: float) -> None:
    """One record for the request; the JSON formatter (observability.logs) writes its fields.
    The query string is left out: a signed file URL carries its signature there."""
    access_log.info("%s %s %d", scope["method"], scope["path"], status, extra={"request": {
        "request_id": scope[REQUEST_ID].decode(), "method": scope["method"], "route": route,
        "path": scope["path"], "status": status, "duration_ms": round(seconds * 1000, 3),
        "principal": scope.get(PRINCIPAL), "client": (scope.get("client") or ("",))[0],
    }})
