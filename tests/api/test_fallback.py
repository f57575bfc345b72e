"""What no endpoint answers is answered in the format of the surface the path belongs to
(api/fallback.py, web/handlers.error_page), and an error never costs the connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import create_engine, update

from modelyard.store import model_summary
from modelyard.store.database import sqlite_url_for
from modelyard.store.tables import registered_models as rm
from modelyard.store.tables import uc_catalogs
from tests.support.server import ServerProcess

UC_API = "/api/2.1/unity-catalog"


def _uc_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert body["details"] == [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": code}]
    message: str = body["message"]
    return message


def test_unknown_unity_catalog_routes_answer_in_its_envelope(http: httpx.Client) -> None:
    message = _uc_error(http.get(f"{UC_API}/no-such-thing"), 404, "NOT_FOUND")
    assert message == f"No endpoint GET {UC_API}/no-such-thing."
    _uc_error(http.post(f"{UC_API}/catalogs/main/extra/parts"), 404, "NOT_FOUND")
    # A method the path does not take: 405, UC's envelope, and every method it does take.
    response = http.put(f"{UC_API}/catalogs")
    message = _uc_error(response, 405, "UNIMPLEMENTED")
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert message == f"PUT is not allowed on {UC_API}/catalogs. It takes: GET, HEAD, POST."


def test_other_api_paths_keep_mlflows_envelope(http: httpx.Client) -> None:
    response = http.get("/api/2.0/mlflow/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error_code": "ENDPOINT_NOT_FOUND",
                               "message": "No endpoint GET /api/2.0/mlflow/no-such-thing."}
    response = http.delete("/api/2.0/preview/scim/v2/Users")
    assert response.status_code == 405
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_unknown_pages_are_pages(http: httpx.Client) -> None:
    for response in (http.get("/no-such-page"), http.get("/static/no-such.css"),
                     http.delete("/models/x")):
        assert response.status_code in (404, 405)
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>Something is not right</h1>" in response.text
        assert response.headers["x-content-type-options"] == "nosniff"


def test_static_files_are_not_sniffed(http: httpx.Client) -> None:
    for asset in ("/static/app.css", "/static/app.js"):
        response = http.get(asset)
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"


@contextmanager
def corrupt_summary(server: ServerProcess, database_url: str | None, name: str) -> Iterator[None]:
    """A model whose stored summary is not JSON: reading it fails inside the server (a real
    500, not a simulated one). Put right afterwards."""
    engine = create_engine(database_url or sqlite_url_for(server.data_dir))
    try:
        with engine.begin() as conn:
            conn.execute(update(rm).where(rm.c.name == name).values(summary="{not json"))
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(update(rm).where(rm.c.name == name).values(
                summary=model_summary.summary_expression(conn.dialect.name)))
        engine.dispose()


def test_unity_catalogs_internal_errors_keep_its_envelope(
        http: httpx.Client, server: ServerProcess, database_url: str | None,
        unique_name: str) -> None:
    name = unique_name.replace("-", "_")
    assert http.post(f"{UC_API}/catalogs", json={"name": name}).status_code == 200
    engine = create_engine(database_url or sqlite_url_for(server.data_dir))
    try:
        with engine.begin() as conn:  # a catalog whose properties are not JSON: a real 500
            conn.execute(update(uc_catalogs).where(uc_catalogs.c.name == name).values(
                properties="{not json"))
        message = _uc_error(http.get(f"{UC_API}/catalogs/{name}"), 500, "INTERNAL")
        assert message == "Internal error; see the server log."
        assert http.get("/health").status_code == 200  # same connection
    finally:
        with engine.begin() as conn:
            conn.execute(update(uc_catalogs).where(uc_catalogs.c.name == name).values(
                properties="{}"))
        engine.dispose()
    assert http.get(f"{UC_API}/catalogs/{name}").status_code == 200


def _search(name: str) -> bytes:
    return (f"GET /api/2.0/mlflow/registered-models/search?filter=name%3D%27{name}%27 HTTP/1.1"
            f"\r\nHost: x\r\n\r\n").encode()


def _answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One response with a content-length body: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        body += chunk
    return head, body


def test_an_internal_error_leaves_the_connection_usable(
        http: httpx.Client, server: ServerProcess, database_url: str | None,
        unique_name: str) -> None:
    assert http.post("/api/2.0/mlflow/registered-models/create",
                     json={"name": unique_name}).status_code == 200
    with corrupt_summary(server, database_url, unique_name), \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_search(unique_name))
        head, body = _answer(sock)
        assert head.startswith(b"HTTP/1.1 500 ")
        assert b"connection: close" not in head.lower()  # it says it stays open...
        assert body == (b'{"error_code":"INTERNAL_ERROR",'
                        b'"message":"Internal error; see the server log."}')
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # ...and it does
        head, body = _answer(sock)
        assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"status":"ok"}'
    assert "unhandled error on GET /api/2.0/mlflow/registered-models/search" in server.log()
    assert "Exception in ASGI application" not in server.log()  # logged once, by us


def test_the_web_uis_internal_errors_are_pages(
        http: httpx.Client, server: ServerProcess, database_url: str | None,
        unique_name: str) -> None:
    assert http.post("/api/2.0/mlflow/registered-models/create",
                     json={"name": unique_name}).status_code == 200
    with corrupt_summary(server, database_url, unique_name):
        response = http.get("/", params={"q": unique_name})
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("text/html")
        assert "Internal error; see the server log." in response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        assert http.get("/health").status_code == 200  # same connection, still usable
    assert http.get("/", params={"q": unique_name}).status_code == 200
