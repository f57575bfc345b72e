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

P = TypeVar("P")
Endpoint = Callable[[Request], Awaitable[Response]]
_EMPTY = b"{}"


F = TypeVar("F", bound=Callable[..., Any])


def in_thread(handler: F) -> F:
    """Mark a handler that may block (files, storage, S3, hashing, copies): its endpoint runs it
    in a worker thread. Unmarked handlers only ask the database and run on the event loop
    (handing each call to a thread cost more than a point read itself; bench/, issue 6). The
    one way every dialect says which handlers leave the loop."""
    handler.in_thread = True  # type: ignore[attr-defined]
    return handler


def in_thread_when(condition: Callable[[Any], bool]) -> Callable[[F], F]:
    """`in_thread` for the calls whose parameters satisfy `condition` only."""
    def mark(handler: F) -> F:
        handler.in_thread = condition  # type: ignore[attr-defined]
        return handler
    return mark


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
                 ) -> Endpoint:
        blocking = getattr(handler, "in_thread", False)
        async def endpoint(request: Request) -> Response:
            try:
                actor = await authenticate(request)
                params = await self.read_params(request)
                target = self.target(request)
                if blocking is True or (callable(blocking) and blocking(params)):
                    result = await run_in_threadpool(handler, target, actor, params)
                elif (request.app.state.cooperative is not None
                      and (request.method != "GET" or request.app.state.cooperative_reads)):
                    # The composition root's store.cooperative.run_cooperatively
                    result = await request.app.state.cooperative(handler, target, actor, params)
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
