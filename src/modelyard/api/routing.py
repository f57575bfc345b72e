"""Starlette's router, but finding a request's route by its path instead of trying every route.

Starlette matches a request against each of its routes in turn: 147 here, so a request for a
route near the end ran ~140 regular expressions before its own, and even the MLflow point reads
near the front spent ~9 µs there, ~7% of their server CPU (bench/, issue 6). This router looks the
route up: a path without parameters by the path itself, a path with parameters by the literal
text before its first parameter. It tries only the routes that could match, in their original
order, so the route that answers (the first full match, else the first partial one: a 405) is
the one Starlette would have chosen. The trailing-slash redirect and the 404 fall through to
Starlette's own loop.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from modelyard.api import openapi


def _literal_prefix(route: BaseRoute) -> str | None:
    """The text every path this route matches starts with; None: the route matches one path
    exactly (no parameters), "" when nothing is known about its paths."""
    if isinstance(route, Route):
        if not route.param_convertors:
            return None
        literal = route.path[:route.path.index("{")]
        return literal[:literal.rfind("/") + 1]  # up to a "/": the lookup walks a path's "/"s
    if isinstance(route, Mount):
        return route.path.rstrip("/") + "/"
    return ""


class IndexedRouter(Router):
    """A Router whose requests try only the routes that can match their path."""

    def __init__(self, routes: list[BaseRoute], lifespan: Lifespan[Any] | None = None) -> None:
        super().__init__(routes=routes, lifespan=lifespan)
        for route in self.routes:
            if isinstance(route, Route) and hasattr(route.endpoint, openapi.HANDLER):
                route.app = _answering(route.endpoint)
        exact_paths: set[str] = set()
        self._by_prefix: dict[str, list[tuple[int, BaseRoute]]] = {}
        for index, route in enumerate(self.routes):
            prefix = _literal_prefix(route)
            if prefix is None:
                exact_paths.add(route.path)  # type: ignore[attr-defined]
            else:
                self._by_prefix.setdefault(prefix, []).append((index, route))
        # A path without parameters can also be matched by a route with parameters (or a
        # mount): each exact path's candidates are all the routes whose pattern accepts it.
        self._exact = {path: [route for route in self.routes if _accepts(route, path)]
                       for path in exact_paths}

    def candidates(self, path: str) -> list[BaseRoute]:
        """Every route whose pattern could accept `path`, in the routers' order."""
        exact = self._exact.get(path)
        if exact is not None:
            return exact
        found: list[tuple[int, BaseRoute]] = list(self._by_prefix.get("", ()))
        slash = path.find("/")
        while slash != -1:
            found.extend(self._by_prefix.get(path[:slash + 1], ()))
            slash = path.find("/", slash + 1)
        if len(found) > 1:
            found.sort(key=lambda pair: pair[0])
        return [route for _, route in found]

    def allowed_methods(self, path: str) -> list[str]:
        """Every method some route takes on `path` (the `Allow` of a 405: Starlette's names
        only the first route's)."""
        methods: set[str] = set()
        for route in self.candidates(path):
            if isinstance(route, Route) and route.methods and _accepts(route, path):
                methods |= route.methods
        return sorted(methods)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await super().app(scope, receive, send)
            return
        # Starlette's loop over the candidates: the first full match answers, else the first
        # partial one (the path matches, the method does not: 405).
        chosen: tuple[BaseRoute, Scope] | None = None
        for route in self.candidates(scope["path"]):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                chosen = route, child_scope
                break
            if match is Match.PARTIAL and chosen is None:
                chosen = route, child_scope
        if chosen is None:
            await super().app(scope, receive, send)  # the trailing-slash redirect, or 404
            return
        route, child_scope = chosen
        scope.setdefault("router", self)
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)


def _accepts(route: BaseRoute, path: str) -> bool:
    regex = getattr(route, "path_regex", None)
    return regex is not None and regex.match(path) is not None


def _answering(endpoint: Any) -> ASGIApp:
    """The ASGI app of a JSON endpoint (api/endpoint.py): its response, sent. Starlette's own
    (`request_response`) wraps each request in a second exception handler, the same one
    `ExceptionMiddleware` applies around the router, with the same handlers: an error this
    one raises reaches that one, and is answered the same way."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    return app
