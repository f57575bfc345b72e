"""The pages' shared assets: the favicon, where browsers look for it and where pages name it."""

from __future__ import annotations

from tests.support import http_clients
from tests.support.server import ServerProcess


def test_favicon_is_served(server: ServerProcess) -> None:
    with http_clients.Client(base_url=server.url) as http:
        for path in ("/favicon.ico", "/static/favicon.svg"):
            answer = http.get(path)
            assert answer.status_code == 200, path
            assert answer.headers["content-type"].startswith("image/svg+xml")
            assert answer.text.startswith("<svg")
        page = http.get("/").text
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
