"""Domain errors as MLflow's `{error_code, message}` with the status MLflow gives each code.

Never a 5xx for a deterministic error: the mlflow client retries 5xx for minutes.
"""

from __future__ import annotations

from modelyard.api.http import JSONResponse
from modelyard.domain import errors

# Most specific first: a subclass can map differently from its parent.
_MAPPING: list[tuple[type[errors.ModelyardError], str, int]] = [
    # MLflow answers a missing alias with INVALID_PARAMETER_VALUE, and clients depend on it.
    (errors.AliasNotFound, "INVALID_PARAMETER_VALUE", 400),
    (errors.NotFound, "RESOURCE_DOES_NOT_EXIST", 404),
    (errors.AlreadyExists, "RESOURCE_ALREADY_EXISTS", 400),
    (errors.InvalidArgument, "INVALID_PARAMETER_VALUE", 400),
    (errors.Unauthenticated, "UNAUTHENTICATED", 401),
    (errors.PermissionDenied, "PERMISSION_DENIED", 403),
    (errors.FailedPrecondition, "BAD_REQUEST", 400),
    (errors.Conflict, "RESOURCE_CONFLICT", 409),
    # Not retried by mlflow or databricks-sdk (neither retries a 413): resending cannot help.
    (errors.PayloadTooLarge, "RESOURCE_LIMIT_EXCEEDED", 413),
]


def error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def domain_error_response(error: errors.ModelyardError) -> JSONResponse:
    if isinstance(error, errors.TooManyAttempts):
        # 429 is retried by the mlflow client, which honours Retry-After: it waits the lock out.
        response = error_response("REQUEST_LIMIT_EXCEEDED", error.message, 429)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, errors.Unavailable):
        # An outage, not the request's fault: the mlflow client and databricks-sdk retry 503s.
        response = error_response("TEMPORARILY_UNAVAILABLE", error.message, 503)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    for kind, code, status in _MAPPING:
        if isinstance(error, kind):
            return error_response(code, error.message, status)
    return error_response("BAD_REQUEST", error.message, 400)
