"""Routes are looked up by path (api/routing.py) yet chosen exactly as Starlette's scan would."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import BaseRoute, Match, Mount, Route

from modelyard.api.routing import IndexedRouter
from modelyard.app import routes

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


def _sample_paths(route: BaseRoute) -> list[str]:
    """Paths the route accepts, plus near misses around them."""
    if isinstance(route, Mount):
        return [route.path + "/app.css", route.path, route.path + "/"]
    assert isinstance(route, Route)
    filled = re.sub(r"\{[^}]+\}", "main.team.model", route.path)
    numbered = re.sub(r"\{[^}]+\}", "3", route.path)
    return [filled, numbered, filled + "/", filled.rstrip("/") + "/extra",
            re.sub(r"\{[^}]+\}", "", route.path)]


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": ""}


def test_the_lookup_offers_every_route_that_could_answer_in_order() -> None:
    table = routes()
    router = IndexedRouter(table)
    paths = {p for route in table for p in _sample_paths(route)}
    paths |= {"/", "/nope", "/api/2.0/mlflow/", "/api/2.1/unity-catalog/models/a.b.c/versions/x/y"}
    checked = 0
    for path in sorted(paths):
        offered = router.candidates(path)
        for method in METHODS:
            scope = _scope(method, path)
            matching = [r for r in table if r.matches(scope)[0] is not Match.NONE]
            # Every route Starlette's scan would consider is offered, in the same order...
            assert [r for r in offered if r in matching] == matching, (method, path)
            # ...so the first full match, the one that answers, is the same route.
            full = [r for r in table if r.matches(scope)[0] is Match.FULL]
            offered_full = [r for r in offered if r.matches(scope)[0] is Match.FULL]
            assert offered_full[:1] == full[:1], (method, path)
            checked += 1
    assert checked > 1000  # the table has ~150 routes


def test_lookup_answers_match_starlettes(http: httpx.Client) -> None:
    # A path without parameters, one with, a wrong method, a trailing slash, an unknown path.
    assert http.get("/health").json() == {"status": "ok"}
    response = http.get("/api/2.1/unity-catalog/models/no_catalog.no_schema.no_model")
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"  # UC's own code: its handler answered
    response = http.delete("/api/2.0/mlflow/registered-models/get")
    assert response.status_code == 405
    assert response.json()["error_code"] == "BAD_REQUEST"
    response = http.get("/health/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/health")
    response = http.get("/api/2.0/mlflow/registered-models/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


@pytest.mark.parametrize("path", ["/static/app.css", "/static/nope.css"])
def test_static_files_still_resolve(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == (200 if path == "/static/app.css" else 404)


def test_a_longer_prefix_listed_first_still_wins() -> None:
    async def endpoint(request: object) -> None: ...

    specific, catch_all = Route("/a/b/{x}", endpoint), Route("/a/{rest:path}", endpoint)
    router = IndexedRouter([specific, catch_all])
    assert router.candidates("/a/b/1") == [specific, catch_all]
    assert router.candidates("/a/c/1") == [catch_all]
