"""The one shape every JSON endpoint has, whatever its dialect.

authenticate → read the parameters → call the handler (inline; in a greenlet on PostgreSQL,
so that its point reads wait for the database without holding the event loop; or in a worker
thread when it touches files or other slow I/O) → render the result as JSON, or the error in the
dialect's own format. Each dialect supplies its parameter reader, the object its handlers act
on, and its error format; nothing else differs between them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api import openapi
from modelyard.api.auth import authenticate
from modelyard.api.http import BodyError, JSONResponse
from modelyard.domain.errors import ModelyardError
from modelyard.services.context import Actor
from modelyard.store.cooperative import run_cooperatively

P = TypeVar("P")
Endpoint = Callable[[Request], Awaitable[Response]]
_EMPTY = b"{}"


@dataclass(frozen=True)
class Dialect(Generic[P]):
    """What one wire dialect contributes to its endpoints."""

    read_params: Callable[[Request], Awaitable[P]]
    #: The object handlers receive first (a service, or the app state holding several).
    target: Callable[[Request], Any]
    domain_error: Callable[[ModelyardError], Response]
    malformed_body: Callable[[str], Response]
    #: The methods whose fields come from the query string (the others': a JSON body); what
    #: the OpenAPI document (api/openapi.py) tells clients.
    query_methods: frozenset[str] = frozenset({"GET"})

    def endpoint(self, handler: Callable[[Any, Actor, P], Any],
                 blocking: Callable[[P], bool] | bool = False) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                actor = await authenticate(request)
                params = await self.read_params(request)
                target = self.target(request)
                if blocking is True or (callable(blocking) and blocking(params)):
                    result = await run_in_threadpool(handler, target, actor, params)
                elif request.app.state.cooperative:
                    result = await run_cooperatively(handler, target, actor, params)
                else:
                    result = handler(target, actor, params)
            except ModelyardError as error:
                return self.domain_error(error)
            except BodyError as error:
                return self.malformed_body(str(error))
            if result is None:
                return Response(_EMPTY, media_type="application/json")
            return JSONResponse(result)

        endpoint.__name__ = handler.__name__
        setattr(endpoint, openapi.HANDLER, handler)
        setattr(endpoint, openapi.QUERY_METHODS, self.query_methods)
        return endpoint
