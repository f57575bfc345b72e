"""The request wrapper the Databricks-shaped surfaces share: authenticate, parse, call, render.

Errors use the `{error_code, message}` body and statuses databricks-sdk understands (the same
mapping as the MLflow surface).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.api import openapi
from modelyard.api.auth import authenticate
from modelyard.api.http import BodyError, JSONResponse, json_body
from modelyard.api.mlflow.errors import domain_error_response, error_response
from modelyard.api.mlflow.params import Params
from modelyard.domain.errors import ModelyardError
from modelyard.services.context import Actor

Handler = Callable[[Request, Actor, Params], Any]


def endpoint(handler: Handler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            actor = await authenticate(request)
            # databricks-sdk sends DELETE parameters in the query string, others in the body.
            body = await json_body(request) if request.method != "GET" else {}
            params = Params({**request.query_params, **body})
            runner = getattr(request.app.state, "cooperative", None)  # as the other APIs
            result = (handler(request, actor, params) if runner is None
                      else await runner(handler, request, actor, params))
            if inspect.isawaitable(result):  # a handler that waits off the event loop
                result = await result
        except ModelyardError as error:
            return domain_error_response(error)
        except BodyError as error:
            return error_response("MALFORMED_REQUEST", str(error), 400)
        if isinstance(result, Response):  # a handler that shapes its own answer (a 409 body)
            return result
        return JSONResponse({} if result is None else result, status_code=status)

    run.__name__ = handler.__name__
    setattr(run, openapi.HANDLER, handler)
    # Fields of a DELETE may come in the query string too (databricks-sdk sends them there).
    setattr(run, openapi.QUERY_METHODS, frozenset({"GET", "DELETE"}))
    return run
