"""The answers no endpoint gives, in the format of the surface a path belongs to: no such
endpoint (404), a method the path does not take (405), an unhandled error (500).

Unity Catalog's paths answer in its envelope `{error_code, message, details}` with the codes a
google.rpc-style API gives a routing failure (NOT_FOUND, UNIMPLEMENTED for a 405, as
grpc-gateway does); every other API path in MLflow's `{error_code, message}`, which the
Databricks-shaped surfaces share. Paths outside the APIs belong to the web UI (web/handlers.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.mlflow import errors as mlflow_errors
from modelyard.api.unity_catalog import errors as uc_errors
from modelyard.domain.errors import ModelyardError

UC_PREFIX = "/api/2.1/unity-catalog/"
#: Paths whose errors are in Unity Catalog's envelope: its API, and Modelyard's file listing of
#: UC versions.
_UC_ENVELOPE = (UC_PREFIX, "/api/modelyard/v1/uc/")
_API_PREFIXES = ("/api/", "/.well-known/", "/health", "/metrics")


def is_api(path: str) -> bool:
    """Whether `path` belongs to an API (JSON errors) rather than to the web UI (pages)."""
    return path.startswith(_API_PREFIXES)


def no_endpoint(request: Request, status: int, headers: Mapping[str, str] | None) -> Response:
    """404 for a path no endpoint serves, 405 for a method the path does not take (with the
    `Allow` header listing those it does)."""
    path, method = request.url.path, request.method
    if status == 405:
        message = f"{method} is not allowed on {path}."
        allowed = (headers or {}).get("Allow")
        if allowed:
            message += f" It takes: {allowed}."
    else:
        message = f"No endpoint {method} {path}."
    if path.startswith(UC_PREFIX):
        code = "UNIMPLEMENTED" if status == 405 else "NOT_FOUND"
        response: Response = uc_errors.error_response(code, message, status)
    else:
        code = "BAD_REQUEST" if status == 405 else "ENDPOINT_NOT_FOUND"
        response = mlflow_errors.error_response(code, message, status)
    if headers:
        response.headers.update(headers)
    return response


def internal_error(request: Request) -> Response:
    message = "Internal error; see the server log."
    if request.url.path.startswith(UC_PREFIX):
        return uc_errors.error_response("INTERNAL", message, 500)
    return mlflow_errors.error_response("INTERNAL_ERROR", message, 500)


def domain_error(request: Request, error: ModelyardError) -> Response:
    """A domain error refused before any endpoint ran (a NUL in the path, api/input_guard.py),
    or escaping one (the database down while authenticating), in the path's envelope."""
    if request.url.path.startswith(_UC_ENVELOPE):
        return uc_errors.domain_error_response(error)
    return mlflow_errors.domain_error_response(error)
