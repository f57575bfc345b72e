"""Request bodies are bounded on every surface (api/http.py): a body over `--max-body-size`
is answered 413 in the surface's own format, as soon as its Content-Length says so or while it
arrives; JSON nested deeper than anything needs is a 400, not a RecursionError."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import http_clients
from tests.support.server import ServerProcess

MLFLOW, UC = "mlflow", "uc"
SCIM = "/api/2.0/preview/scim/v2"
UC_API = "/api/2.1/unity-catalog"

#: One JSON endpoint that reads a body on each surface, and the envelope it answers in.
JSON_ENDPOINTS = [
    ("POST", "/api/2.0/mlflow/registered-models/create", MLFLOW),  # MLflow REST
    ("POST", "/api/2.0/mlflow/comments/create", MLFLOW),  # workspace extras
    ("POST", "/api/2.0/mlflow/transition-requests/create", MLFLOW),
    ("POST", "/api/2.0/mlflow/registry-webhooks/create", MLFLOW),
    ("PATCH", "/api/2.0/permissions/registered-models/root", MLFLOW),
    ("POST", f"{SCIM}/Users", MLFLOW),  # identity
    ("POST", f"{SCIM}/Groups", MLFLOW),
    ("POST", f"{SCIM}/ServicePrincipals", MLFLOW),
    ("POST", "/api/2.0/token/create", MLFLOW),
    ("POST", "/api/2.0/token-management/on-behalf-of/tokens", MLFLOW),
    ("POST", "/api/2.0/mlflow/unity-catalog/registered-models/create", MLFLOW),  # databricks-uc
    ("POST", "/api/2.0/fs/create-upload-url", MLFLOW),
    ("POST", f"{UC_API}/catalogs", UC),  # Unity Catalog REST
    ("POST", f"{UC_API}/entity-tag-assignments", UC),
    ("PATCH", f"{UC_API}/permissions/catalog/main", UC),
    ("POST", "/api/modelyard/v1/import/model-versions", MLFLOW),  # Modelyard's own
]
_IDS = [f"{method} {path}" for method, path, _ in JSON_ENDPOINTS]
#: What a JSON body of each surface must look like when it is refused.
_CODES = {(MLFLOW, 413): "RESOURCE_LIMIT_EXCEEDED", (UC, 413): "RESOURCE_EXHAUSTED",
          (MLFLOW, 400): "MALFORMED_REQUEST", (UC, 400): "INVALID_ARGUMENT"}
LIMIT = 1024 * 1024  # the default --max-body-size


def _expect(response: httpx.Response, envelope: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    body: dict[str, Any] = response.json()
    assert body["error_code"] == _CODES[envelope, status]
    assert body["message"]
    if envelope == UC:
        assert body["details"][0]["reason"] == body["error_code"]
    else:
        assert "details" not in body
    return body


def _stream(total: int, piece: bytes = b'{"name": "' + b"x" * 65_000) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length), never held whole by the client either."""
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


@pytest.mark.parametrize(("method", "path", "envelope"), JSON_ENDPOINTS, ids=_IDS)
def test_a_body_over_the_limit_is_413_in_the_surfaces_format(
        http: httpx.Client, method: str, path: str, envelope: str) -> None:
    # Declared by Content-Length...
    declared = http.request(method, path, content=b" " * (LIMIT + 1),
                            headers={"Content-Type": "application/json"})
    body = _expect(declared, envelope, 413)
    assert "1,048,576 bytes" in body["message"] and "--max-body-size" in body["message"]
    # ...or found out while it arrives: the answer comes long before 50 MiB are sent.
    started = time.monotonic()
    streamed = http.request(method, path, content=_stream(50 * LIMIT))
    _expect(streamed, envelope, 413)
    assert streamed.headers["connection"] == "close"  # the rest of the body is not read
    assert time.monotonic() - started < 10
    # A body just under the limit is read and judged on its content as before.
    under = http.request(method, path, content=b"{" + b" " * (LIMIT - 2) + b"}")
    assert under.status_code != 413


@pytest.mark.parametrize(("method", "path", "envelope"), JSON_ENDPOINTS, ids=_IDS)
def test_deeply_nested_json_is_400_in_the_surfaces_format(
        http: httpx.Client, method: str, path: str, envelope: str) -> None:
    for field, depth in (("name", 65), ("comment", 500), ("changes", 5000)):
        deep = f'{{"{field}": {"[" * depth + "]" * depth}}}'
        response = http.request(method, path, content=deep)
        body = _expect(response, envelope, 400)
        assert "more than 64 levels deep" in body["message"]
    # Nesting as deep as real requests go is fine: judged on its content, not refused.
    shallow = f'{{"name": {"[" * 10 + "]" * 10}}}'
    response = http.request(method, path, content=shallow)
    assert response.status_code < 500 and "64 levels" not in response.text


def test_a_huge_declared_length_is_refused_before_the_body_is_sent(
        server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/2.0/mlflow/registered-models/create HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):  # the server answers, then closes
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"connection: close" in head.lower()
    assert b'"RESOURCE_LIMIT_EXCEEDED"' in body


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_a_300_mb_signin_form_is_refused_quickly_and_the_server_keeps_answering(
        server: ServerProcess) -> None:
    assert server.process is not None
    pid = server.process.pid
    before = _rss(pid)
    peak, health, stop = [before], [], threading.Event()

    def watch() -> None:
        with http_clients.Client(base_url=server.url, timeout=5) as client:
            while True:  # at least one probe, however soon the refusal comes
                started = time.monotonic()
                status = client.get("/health").status_code
                health.append((status, time.monotonic() - started))
                peak.append(_rss(pid))
                if stop.wait(0.02):
                    break

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        started = time.monotonic()
        response = http_clients.post(server.url + "/signin",
                                     content=_stream(300 * LIMIT, b"a=1&" * 16384),
                                     headers={"Origin": server.url,
                                              "Content-Type": "application/x-www-form-urlencoded"},
                                     timeout=30)
        took = time.monotonic() - started
    finally:
        stop.set()
        watcher.join()
    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    assert "larger than this server accepts" in response.text
    assert took < 5
    assert health and all(status == 200 and seconds < 1 for status, seconds in health)
    assert max(peak) - before < 64 * LIMIT


def test_a_big_web_form_is_a_413_page(http: httpx.Client, server: ServerProcess) -> None:
    response = http.post("/models/any-model/description", content=b"description=" + b"x" * LIMIT,
                         headers={"Origin": server.url,
                                  "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    assert "--max-body-size" in response.text


def test_a_form_of_nothing_but_fields_is_refused(http: httpx.Client, server: ServerProcess) -> None:
    response = http.post("/signin", content=b"a=1&" * 1000, headers={
        "Origin": server.url, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "more than 100 fields" in response.text


def test_a_body_no_endpoint_reads_closes_the_connection_after_the_answer(
        server: ServerProcess) -> None:
    # The native API's audit is a GET: a body sent with it is never read, nor held.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /api/modelyard/v1/audit HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 104857600\r\n\r\n" + b"x" * 65536)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 200 ") and b"connection: close" in head
