"""OpenTelemetry traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set.

One server span per request, named `METHOD /route/{template}`, continuing the caller's trace
when it sends a W3C `traceparent`, exported in batches over OTLP/HTTP (protobuf). The SDK and
the exporter are imported only when tracing is on: a server without them configured starts as
fast as before. The exporter reads the standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_EXPORTER_OTLP_TIMEOUT`, ...; `OTEL_SERVICE_NAME` names the service, "modelyard" by default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from starlette.types import Scope

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
_PROPAGATED = (b"traceparent", b"tracestate")


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    return any(env.get(name) for name in ENDPOINT_VARIABLES)


def configuration_problem(env: Mapping[str, str] = os.environ) -> str | None:
    """Why the OTLP settings cannot work with this server, or None."""
    for name in _PROTOCOL_VARIABLES:
        protocol = env.get(name)
        if protocol and protocol != "http/protobuf":
            return (f"{name}={protocol}: Modelyard exports traces over OTLP/HTTP only; set it to "
                    f"http/protobuf (and point the endpoint at the collector's HTTP port, "
                    f"usually 4318) or unset it.")
    return None


class RequestTracer:
    """Starts and ends the server span of each request (observability.requests)."""

    def __init__(self) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "modelyard"}
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.provider = provider
        self._tracer = provider.get_tracer("modelyard")
        self._propagator = TraceContextTextMapPropagator()
        self._server = SpanKind.SERVER
        self._error = StatusCode.ERROR

    def start(self, scope: Scope) -> Any:
        carrier = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope["headers"] if name in _PROPAGATED}
        context = self._propagator.extract(carrier) if carrier else None
        method = scope["method"]
        return self._tracer.start_span(method, context=context, kind=self._server, attributes={
            "http.request.method": method, "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
        })

    def end(self, span: Any, route: str, status: int) -> None:
        span.update_name(f"{span.name} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(self._error)
        span.end()
