"""The live event stream over HTTP: filtered delivery, Last-Event-ID replay, keep-alives."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.history.conftest import NATIVE, workspace_model
from tests.support import http_clients
from tests.support.server import ServerProcess

STREAM = "/api/modelyard/v1/events/stream"


class Subscriber:
    """Reads one stream in a thread; events (and comments) land in a queue."""

    def __init__(self, base_url: str, params: dict[str, str],
                 headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.comments = 0
        self.status = 0
        self.ended = False  # the server ended the response (not cut the connection)
        self.client = http_clients.Client(base_url=base_url, timeout=httpx.Timeout(30, read=None),
                                          headers=headers or {})
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(params,), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self, params: dict[str, str]) -> None:
        try:
            with self.client.stream("GET", STREAM, params=params) as answer:
                self.status = answer.status_code
                self.ready.set()
                event: dict[str, Any] = {}
                for line in answer.iter_lines():
                    if line.startswith(":"):
                        self.comments += 1
                    elif line.startswith("id: "):
                        event["id"] = line[4:]
                    elif line.startswith("data: "):
                        event["data"] = json.loads(line[6:])
                    elif line == "" and "data" in event:
                        event["received"] = time.monotonic()
                        self.events.put(event)
                        event = {}
            self.ended = True
        except httpx.HTTPError:
            pass
        finally:
            self.ready.set()

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.client.close()


def test_filtered_subscriber_sees_an_alias_move_within_a_second(http: httpx.Client) -> None:
    name, other = workspace_model(http, 2), workspace_model(http, 1)
    sub = Subscriber(str(http.base_url), {"model": name, "alias": "champion"})
    try:
        assert sub.status == 200
        http.put(f"{NATIVE}/{other}/aliases/champion", json={"version": "1"})
        http.put(f"{NATIVE}/{name}/aliases/shadow", json={"version": "1"})
        started = time.monotonic()
        assert http.put(f"{NATIVE}/{name}/aliases/champion",
                        json={"version": "2", "reason": "go"}).status_code == 200
        event = sub.next()
        assert event["received"] - started < 1.0
        data = event["data"]
        assert (data["model"], data["type"], data["alias"], data["version"],
                data["previous_version"], data["reason"]) == (
            name, "registered_model.set_alias", "champion", "2", None, "go")
        assert event["id"] == str(data["id"])
        assert sub.events.empty()  # the other model's and the other alias's moves filtered
    finally:
        sub.close()


def test_reconnect_with_last_event_id_gets_exactly_what_was_missed(
        http: httpx.Client) -> None:
    name = workspace_model(http, 3)
    sub = Subscriber(str(http.base_url), {"model": name})
    http.put(f"{NATIVE}/{name}/aliases/champion", json={"version": "1"})
    seen = sub.next()
    sub.close()
    for version in (2, 3):
        http.put(f"{NATIVE}/{name}/aliases/champion", json={"version": str(version)})
    http.post("/api/2.0/mlflow/model-versions/set-tag",
              json={"name": name, "version": "3", "key": "k", "value": "v"})
    again = Subscriber(str(http.base_url), {"model": name},
                       headers={"Last-Event-ID": seen["id"]})
    try:
        missed = [again.next() for _ in range(3)]
        assert [(m["data"]["type"], m["data"].get("alias"), m["data"]["version"])
                for m in missed] == [
            ("registered_model.set_alias", "champion", "2"),
            ("registered_model.set_alias", "champion", "3"),
            ("model_version.set_tag", None, "3")]
        ids = [int(m["id"]) for m in missed]
        assert ids == sorted(ids) and ids[0] > int(seen["id"])
        time.sleep(0.3)
        assert again.events.empty()
    finally:
        again.close()


def test_bad_last_event_id_is_a_400(http: httpx.Client) -> None:
    answer = http.get(STREAM, headers={"Last-Event-ID": "abc"})
    assert answer.status_code == 400
    assert "Last-Event-ID" in answer.json()["message"]


@pytest.fixture(scope="module")
def quick_keepalive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Keep-alives are not about the database: one SQLite server, comments every 0.3 s, an
    idle keep-alive timeout shorter than the wait below."""
    process = ServerProcess(tmp_path_factory.mktemp("keepalive"), extra_args=[
        "--stream-keepalive", "0.3", "--keep-alive-timeout", "0.5"]).start()
    try:
        yield process
    finally:
        process.stop()


def test_idle_stream_gets_keepalive_comments_and_outlives_idle_timeout(
        quick_keepalive_server: ServerProcess) -> None:
    sub = Subscriber(quick_keepalive_server.url, {})
    try:
        time.sleep(2.0)  # four times the idle keep-alive timeout
        assert sub.comments >= 3, sub.comments
        with http_clients.Client(base_url=quick_keepalive_server.url, timeout=30) as http:
            name = workspace_model(http, 1)
            http.put(f"{NATIVE}/{name}/aliases/champion", json={"version": "1"})
        assert sub.next()["data"]["model"] == name  # the stream is still open
    finally:
        sub.close()


def test_subscriber_that_stops_reading_then_resumes_misses_nothing(http: httpx.Client) -> None:
    """A client that stops reading while events pile up (its socket buffers fill, the server
    can no longer write to it at once) gets every one of them, in order, once it reads again."""
    name = workspace_model(http, 2)
    port = int(str(http.base_url).rsplit(":", 1)[1].strip("/"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills after a few events
    sock.connect(("127.0.0.1", port))
    try:
        sock.sendall(f"GET {STREAM}?model={name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = b""
        while b"retry:" not in head:
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200")
        # ~500 KB per event: 12 of them outgrow every buffer on the way (the kernel's send
        # buffer grows to 4 MiB), so that the server has to wait for the client.
        moves = 12
        bulky = "r" * 500_000
        for n in range(moves):
            moved = http.put(f"{NATIVE}/{name}/aliases/champion",
                             json={"version": str(1 + n % 2), "reason": f"{n} {bulky}"})
            assert moved.status_code == 200, moved.text
        sock.settimeout(10)
        partial, lines = b"", []
        while len(lines) < moves:
            piece = sock.recv(1 << 20)
            assert piece, "the server closed the stream"
            *complete, partial = (partial + piece).split(b"\n")
            lines += [line for line in complete if line.startswith(b"data: ")]
        events = [json.loads(line[6:]) for line in lines]
        assert [int(e["reason"].split()[0]) for e in events] == list(range(moves))
        assert [e["version"] for e in events] == [str(1 + n % 2) for n in range(moves)]
    finally:
        sock.close()


def test_sigterm_ends_open_streams_and_the_server_stops_without_an_error(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Open streams do not hold a stop up for the whole graceful period, and are not cancelled
    at its end (which logged an ASGI exception): they end when the server starts stopping."""
    server = ServerProcess(tmp_path_factory.mktemp("stream-stop"),
                           extra_args=["--graceful-timeout", "60"]).start()
    subs = []
    try:
        subs = [Subscriber(server.url, {"model": "X"}), Subscriber(server.url, {})]
        assert [s.status for s in subs] == [200, 200]
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGTERM)
        # Well within the 60 s graceful period (it used to take all of it).
        assert server.process.wait(20) in (0, -signal.SIGTERM)
        for sub in subs:
            sub.thread.join(10)
            assert sub.ended  # a complete response: the client reconnects elsewhere
    finally:
        for sub in subs:
            sub.close()
        server.stop()
    log = server.log()
    assert "Exception in ASGI application" not in log and "Traceback" not in log, log
