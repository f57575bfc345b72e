"""api/endpoint.py: a handler marked `in_thread` (or `in_thread_when` its parameters say so)
runs in a worker thread; any other runs on the event loop's own thread."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from modelyard.api.endpoint import Dialect, in_thread, in_thread_when
from modelyard.api.http import JSONResponse
from modelyard.domain.actor import LOCAL_ADMIN, Actor
from tests.support.asyncio_thread import run_async


class _Admin:
    def cached(self, request: Request) -> Actor:
        return LOCAL_ADMIN


async def _params(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def _where(target: Any, actor: Actor, params: dict[str, str]) -> dict[str, str]:
    return {"thread": threading.current_thread().name}


def inline(target: Any, actor: Actor, params: dict[str, str]) -> dict[str, str]:
    return _where(target, actor, params)


@in_thread
def blocking(target: Any, actor: Actor, params: dict[str, str]) -> dict[str, str]:
    return _where(target, actor, params)


@in_thread_when(lambda params: params.get("copy") == "yes")
def sometimes(target: Any, actor: Actor, params: dict[str, str]) -> dict[str, str]:
    return _where(target, actor, params)


def test_marked_handlers_leave_the_event_loop() -> None:
    # In a thread of its own: Playwright (tests/web) leaves a loop running on the main thread.
    run_async(_marked_handlers_leave_the_event_loop())


async def _marked_handlers_leave_the_event_loop() -> None:
    dialect: Dialect[dict[str, str]] = Dialect(
        read_params=_params, target=lambda request: None,
        domain_error=lambda error: JSONResponse({}, status_code=400),
        malformed_body=lambda message: JSONResponse({}, status_code=400))
    app = Starlette(routes=[Route(f"/{h.__name__}", dialect.endpoint(h))
                            for h in (inline, blocking, sometimes)])
    app.state.authenticate, app.state.cooperative = _Admin(), None
    loop_thread = threading.current_thread().name
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        async def thread_of(path: str) -> str:
            thread: str = (await client.get(path)).json()["thread"]
            return thread

        assert await thread_of("/inline") == loop_thread
        assert await thread_of("/blocking") != loop_thread
        assert await thread_of("/sometimes?copy=no") == loop_thread
        assert await thread_of("/sometimes?copy=yes") != loop_thread
