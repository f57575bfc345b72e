"""Domain errors as Unity Catalog's envelope `{error_code, message, details}` and its statuses.

UC answers "already exists" for catalogs and schemas with 400 (CATALOG_ALREADY_EXISTS, kept for
backward compatibility) but for models with 409 ALREADY_EXISTS; a model delete that conflicts is
409 ABORTED. See reference/unity-catalog-oss.md §1.0.
"""

from __future__ import annotations

from modelyard.api.http import JSONResponse
from modelyard.domain import catalog, errors

# Most specific first: a subclass can map differently from its parent.
_MAPPING: list[tuple[type[errors.ModelyardError], str, int]] = [
    (catalog.CatalogNotFound, "CATALOG_NOT_FOUND", 404),
    (catalog.SchemaNotFound, "SCHEMA_NOT_FOUND", 404),
    (errors.NotFound, "NOT_FOUND", 404),
    (catalog.CatalogAlreadyExists, "CATALOG_ALREADY_EXISTS", 400),
    (catalog.SchemaAlreadyExists, "SCHEMA_ALREADY_EXISTS", 400),
    (errors.AlreadyExists, "ALREADY_EXISTS", 409),
    (errors.InvalidArgument, "INVALID_ARGUMENT", 400),
    (errors.Unauthenticated, "UNAUTHENTICATED", 401),
    (errors.PermissionDenied, "PERMISSION_DENIED", 403),
    (errors.FailedPrecondition, "FAILED_PRECONDITION", 400),
    (catalog.Aborted, "ABORTED", 409),
    (errors.Conflict, "ABORTED", 409),
    # gRPC's code for a message over the size limit.
    (errors.PayloadTooLarge, "RESOURCE_EXHAUSTED", 413),
]


def error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse(
        {"error_code": code, "message": message,
         "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code}]},
        status_code=status)


def domain_error_response(error: errors.ModelyardError) -> JSONResponse:
    if isinstance(error, errors.TooManyAttempts):
        response = error_response("RESOURCE_EXHAUSTED", error.message, 429)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, errors.Unavailable):
        response = error_response("UNAVAILABLE", error.message, 503)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    for kind, code, status in _MAPPING:
        if isinstance(error, kind):
            return error_response(code, error.message, status)
    return error_response("INVALID_ARGUMENT", error.message, 400)
