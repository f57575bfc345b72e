"""PostgreSQL unreachable: every surface answers 503 with Retry-After in its own format, the
liveness check stays up, and the server recovers by itself once the database is back.

The server reaches PostgreSQL through a TCP proxy this test owns (tests/support/tcp_proxy.py):
stopping the proxy cuts the server's sessions and refuses new ones, as a database that went
away does, while the shared PostgreSQL keeps serving every other test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from mlflow import MlflowClient

from tests.support import http_clients, postgres
from tests.support.server import ServerProcess
from tests.support.tcp_proxy import TcpProxy

ML = "/api/2.0/mlflow"
UC = "/api/2.1/unity-catalog"


@pytest.fixture(scope="module")
def behind_proxy(pg_available: bool, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[ServerProcess, TcpProxy]]:
    if not pg_available:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432: PostgreSQL run skipped")
    name, url = postgres.create_database()
    proxy = TcpProxy(("127.0.0.1", 5432)).start()
    server = ServerProcess(tmp_path_factory.mktemp("pg-outage"),
                           url.replace(":5432/", f":{proxy.port}/")).start()
    try:
        yield server, proxy
    finally:
        server.stop()
        proxy.stop()
        postgres.drop_database(name)


def _wait_until_served(http: httpx.Client, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if http.get(f"{ML}/registered-models/get", params={"name": "outage"}).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not recovered within {timeout} s")


def test_database_outage_is_a_503_and_heals(behind_proxy: tuple[ServerProcess, TcpProxy]
                                           ) -> None:
    server, proxy = behind_proxy
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        assert http.post(f"{ML}/registered-models/create",
                         json={"name": "outage"}).status_code == 200
        proxy.stop()
        try:
            # (method, path, body, the dialect's code): reads and writes, every surface.
            cases = [
                ("GET", f"{ML}/registered-models/get?name=outage", None,
                 "TEMPORARILY_UNAVAILABLE"),
                ("GET", f"{ML}/model-versions/search?filter=name%3D%27outage%27", None,
                 "TEMPORARILY_UNAVAILABLE"),
                ("POST", f"{ML}/registered-models/create", {"name": "during"},
                 "TEMPORARILY_UNAVAILABLE"),
                ("GET", f"{UC}/catalogs", None, "UNAVAILABLE"),
                ("POST", f"{UC}/schemas", {"name": "s", "catalog_name": "main"},
                 "UNAVAILABLE"),
                ("GET", f"{ML}/unity-catalog/registered-models/search", None,
                 "TEMPORARILY_UNAVAILABLE"),
                ("GET", "/api/2.0/preview/scim/v2/Users", None, "TEMPORARILY_UNAVAILABLE"),
                ("GET", "/api/modelyard/v1/audit", None, "TEMPORARILY_UNAVAILABLE"),
            ]
            for method, path, body, code in cases:
                response = http.request(method, path, json=body)
                assert response.status_code == 503, (path, response.text)
                assert int(response.headers["Retry-After"]) >= 1
                error = response.json()
                assert error["error_code"] == code, (path, error)
                assert "database" in error["message"]
                if path.startswith(UC):
                    assert error["details"][0]["reason"] == "UNAVAILABLE"
            page = http.get("/")
            assert page.status_code == 503 and "Retry-After" in page.headers
            assert page.headers["content-type"].startswith("text/html")
            assert http.get("/health").status_code == 200  # liveness: the process is fine
        finally:
            proxy.start()
        took = _wait_until_served(http, timeout=10)
        assert took < 5, took
        assert http.post(f"{ML}/registered-models/create",
                         json={"name": "after"}).status_code == 200
    log = server.log()  # no request answered by the unhandled-error handler (a 500)
    assert "unhandled error" not in log, log[log.find("unhandled error"):][:4000]


def test_mlflow_client_waits_the_outage_out(behind_proxy: tuple[ServerProcess, TcpProxy],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The mlflow client retries a 503 (honouring Retry-After): a call made during a short
    outage succeeds once the database is back."""
    server, proxy = behind_proxy
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    client = MlflowClient(registry_uri=server.url)
    client.create_registered_model("waits-out")
    proxy.stop()
    threading.Timer(2.5, proxy.start).start()
    started = time.monotonic()
    assert client.get_registered_model("waits-out").name == "waits-out"
    assert time.monotonic() - started >= 2
