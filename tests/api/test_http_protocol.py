"""The HTTP protocol `modelyard serve` runs: whole responses in one write, order and ends kept."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.api.http_protocol import CoalescingTransport
from tests.support import http_clients
from tests.support.asyncio_thread import run_async
from tests.support.server import ServerProcess
from tests.support.uc_models import create_pending_version, finalize, fs_prefix, upload_dir


class RecordingTransport:
    """What a socket transport would send, one entry per `write`."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed


def _run(steps: Any) -> RecordingTransport:
    async def main() -> RecordingTransport:
        real = RecordingTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        steps(transport, real)
        await asyncio.sleep(0)  # the event loop's next turn
        return real

    return run_async(main())


def test_a_small_response_leaves_in_one_write() -> None:
    def steps(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert real.writes == []  # held until the loop turns

    assert _run(steps).writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_a_large_write_is_not_held_and_follows_what_was() -> None:
    chunk = b"x" * (4 * 1024 * 1024)

    def steps(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"headers")
        transport.write(chunk)
        assert real.writes == [b"headers", chunk]
        assert real.writes[1] is chunk  # sent as given, not copied into a joined buffer
        transport.write(b"trailer")

    assert _run(steps).writes[2:] == [b"trailer"]


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    def close(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"last response")
        transport.close()
        assert real.writes == [b"last response"] and real.closed

    assert _run(close).writes == [b"last response"]

    def abort(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"never sent")
        transport.abort()

    aborted = _run(abort)
    assert aborted.aborted and aborted.writes == []


def test_what_is_held_when_the_connection_is_gone_is_dropped() -> None:
    def steps(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"a streamed chunk")
        real.closed = True  # the client left before the loop turned
        transport.flush()  # what the loop's next turn runs: no write on the closed transport

    assert _run(steps).writes == []


def test_other_transport_calls_reach_the_socket_transport() -> None:
    def steps(transport: CoalescingTransport, real: RecordingTransport) -> None:
        assert transport.get_write_buffer_size() == 0

    _run(steps)


class SocketLikeTransport(RecordingTransport):
    """Enough of a socket transport for uvicorn's protocol to serve a connection."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def test_a_complete_response_leaves_before_other_queued_work() -> None:
    # Left to the loop's next turn, an answer would wait behind every task already queued (at
    # concurrency 8, seven other requests' work): it must leave as the response completes.
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from modelyard.api.http_protocol import HttpProtocol

    async def main() -> tuple[list[bytes], list[bytes]]:
        done = asyncio.get_running_loop().create_future()
        sent_at_completion: list[bytes] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"{}"})
            sent_at_completion.extend(real.writes)  # still this loop turn
            done.set_result(None)

        config = Config(app=app, lifespan="off", log_level="warning")
        config.load()
        protocol = HttpProtocol(config=config, server_state=ServerState(), app_state={})
        real = SocketLikeTransport()
        protocol.connection_made(real)  # type: ignore[arg-type]
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await done
        protocol.connection_lost(None)
        return sent_at_completion, real.writes

    at_completion, writes = run_async(main())
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\n{}")  # still one write
    assert at_completion == writes


def _read_responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """`count` HTTP/1.1 responses with content-length bodies, in the order they arrive."""
    data = b""
    responses: list[tuple[int, bytes]] = []
    while len(responses) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode()
            length = int(next(line.split(":", 1)[1] for line in head.split("\r\n")
                              if line.lower().startswith("content-length:")))
            if len(data) >= head_end + 4 + length:
                responses.append((int(head.split(" ", 2)[1]),
                                  data[head_end + 4:head_end + 4 + length]))
                data = data[head_end + 4 + length:]
                continue
        more = sock.recv(65536)
        assert more, f"connection closed after {len(responses)} of {count} responses"
        data += more
    assert data == b""
    return responses


@pytest.fixture()
def connection(server: ServerProcess) -> Any:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        yield sock


def test_pipelined_requests_are_answered_in_order(connection: socket.socket) -> None:
    requests = [b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /api/2.0/mlflow/registered-models/get?name=no-such-model HTTP/1.1\r\n"
                b"Host: x\r\n\r\n",
                b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"]
    connection.sendall(b"".join(requests))
    answers = _read_responses(connection, 3)
    assert [status for status, _ in answers] == [200, 404, 200]
    assert answers[0][1] == answers[2][1] == b'{"status":"ok"}'
    assert b"RESOURCE_DOES_NOT_EXIST" in answers[1][1]


def test_a_closing_request_gets_its_whole_response_before_the_close(
        connection: socket.socket) -> None:
    connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(b'\r\n\r\n{"status":"ok"}')


# ---- slow and idle clients (a server with short timeouts and a small connection cap) ---------

TIMEOUT = 1.5  # --header-timeout, --body-timeout and --keep-alive-timeout of `strict_server`
SLACK = 1.5  # the sweep runs every TIMEOUT / 4; the rest is for a busy machine
CAP = 40


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    process = ServerProcess(tmp_path_factory.mktemp("strict"), extra_args=[
        "--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT),
        "--keep-alive-timeout", str(TIMEOUT), "--max-connections", str(CAP),
        "--max-body-size", "64KiB"]).start()
    try:
        yield process
    finally:
        process.stop()


def _seconds_until_closed(sock: socket.socket) -> tuple[float, bytes]:
    """Seconds until the server closes `sock`, and what it sent before."""
    started, received = time.monotonic(), b""
    sock.settimeout(TIMEOUT + 10)
    while chunk := sock.recv(65536):
        received += chunk
    return time.monotonic() - started, received


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def test_half_a_request_line_is_closed_within_the_header_timeout(
        strict_server: ServerProcess) -> None:
    for partial in (b"GET / HTTP/1.1\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\nAccept: */*"):
        with _connect(strict_server) as sock:
            sock.sendall(partial)
            seconds, received = _seconds_until_closed(sock)
        assert TIMEOUT - 0.1 < seconds < TIMEOUT + SLACK
        assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_headers_trickled_byte_by_byte_do_not_extend_the_timeout(
        strict_server: ServerProcess) -> None:
    with _connect(strict_server) as sock:
        started = time.monotonic()
        try:
            for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            pass  # closed under the sender
        seconds = time.monotonic() - started
        assert seconds < TIMEOUT + SLACK


def test_an_endless_request_head_is_refused(strict_server: ServerProcess) -> None:
    # A URL or a header value that never ends: once past 64 KiB the server answers 431 and
    # stops collecting it (it used to join every piece, ever longer, for the whole timeout).
    for start in (b"GET /", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: "):
        with _connect(strict_server) as sock:
            sock.sendall(start)
            try:
                for _ in range(64):  # 4 MiB
                    sock.sendall(b"a" * 65536)
            except OSError:
                pass  # closed under the sender
            received = b""
            with contextlib.suppress(ConnectionResetError):
                received = _seconds_until_closed(sock)[1]
            assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    # Big headers short of that are served.
    with _connect(strict_server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 60_000 +
                     b"\r\n\r\n")
        head, body = _read_one(sock)
        assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"status":"ok"}'


def test_idle_connections_are_closed(strict_server: ServerProcess) -> None:
    silent = [_connect(strict_server) for _ in range(20)]  # never send a byte
    with _connect(strict_server) as used:  # answered once, then idle on keep-alive
        used.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        seconds, received = _seconds_until_closed(used)
        assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b'{"status":"ok"}')
        assert TIMEOUT - 0.1 < seconds < TIMEOUT + SLACK
    for sock in silent:
        with sock:
            seconds, received = _seconds_until_closed(sock)
            assert received == b""  # no 408 on a connection that never asked anything
            assert seconds < TIMEOUT + SLACK


def test_an_unfinished_body_times_out_with_one_log_line(strict_server: ServerProcess) -> None:
    with _connect(strict_server) as sock:
        sock.sendall(b"POST /api/2.0/mlflow/registered-models/create HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na")
        seconds, received = _seconds_until_closed(sock)
    assert TIMEOUT - 0.1 < seconds < TIMEOUT + SLACK
    assert received.startswith(b"HTTP/1.1 408 ")
    _wait_for_log(strict_server, "POST /api/2.0/mlflow/registered-models/create arrived")


def _wait_for_log(server: ServerProcess, text: str) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in server.log().splitlines() if text in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lines, f"no log line with {text!r}"
    assert all(line.startswith("INFO:") for line in lines)
    assert "Traceback" not in server.log()
    return lines


def test_a_client_leaving_mid_body_is_one_info_line(strict_server: ServerProcess) -> None:
    path = "/api/2.0/preview/scim/v2/Users"
    with _connect(strict_server) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
                     f'{{"userName": "'.encode())
        time.sleep(0.2)  # the server is reading the body
        left = time.monotonic()
    lines = _wait_for_log(strict_server, f"POST {path} arrived")
    assert time.monotonic() - left < TIMEOUT  # the disconnect, not the body timeout
    assert len(lines) == 1
    assert "the client left" in lines[0]


def _uc_version_with(server: ServerProcess, tmp_path: Path, name: str, size: int) -> str:
    """A READY UC version holding `big.bin` of `size` bytes; its file URL on this server."""
    full_name = f"main.default.{name}"
    directory = tmp_path / name
    directory.mkdir()
    # Only what finalize checks: an MLmodel with a signature (no need to pickle a model).
    (directory / "MLmodel").write_text(
        "signature:\n  inputs: '[{\"type\": \"long\", \"name\": \"x\"}]'\n"
        "  outputs: '[{\"type\": \"long\", \"name\": \"x\"}]'\n")
    (directory / "big.bin").write_bytes(b"\x00" * size)
    with http_clients.Client(base_url=server.url, timeout=60) as http:
        version = create_pending_version(http, full_name)
        upload_dir(http, full_name, version, directory)
        assert finalize(http, full_name, version).status_code == 200
    return f"/api/modelyard/v1/uc/models/{full_name}/versions/{version}/files/big.bin"


def test_a_client_that_stops_reading_its_response_is_dropped(
        strict_server: ServerProcess, tmp_path: Path) -> None:
    size = 16 * 1024 * 1024  # far more than the socket buffers on both sides hold
    path = _uc_version_with(strict_server, tmp_path, "slow_reader", size)
    with _connect(strict_server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(TIMEOUT + 1.5)  # reads nothing: the server's buffers fill, then it waits
        received = 0
        try:
            while chunk := sock.recv(1024 * 1024):
                received += len(chunk)
        except ConnectionResetError:
            pass
    assert 0 < received < size  # the rest was never sent: the server gave up on the client
    assert "read nothing of its response for 1.5 s" in strict_server.log()


def test_a_client_leaving_mid_upload_is_one_info_line(
        strict_server: ServerProcess, tmp_path: Path) -> None:
    full_name = "main.default.left_mid_upload"
    with http_clients.Client(base_url=strict_server.url, timeout=30) as http:
        version = create_pending_version(http, full_name)
        url = http.post("/api/2.0/fs/create-upload-url", json={
            "path": f"{fs_prefix(full_name, version)}/model.bin"}).json()["url"]
    target = httpx.URL(url)
    with _connect(strict_server) as sock:
        sock.sendall(f"PUT {target.raw_path.decode()} HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Length: 50000000\r\n\r\n".encode() + b"x" * 3_000_000)
        time.sleep(0.3)
    lines = _wait_for_log(strict_server, f"PUT {target.path} arrived (the client left")
    assert len(lines) == 1


def test_the_connection_cap_keeps_health_answering(strict_server: ServerProcess) -> None:
    idle = [_connect(strict_server) for _ in range(3 * CAP)]
    try:
        started = time.monotonic()
        with http_clients.Client(base_url=strict_server.url, timeout=5) as client:
            for _ in range(5):  # new connections each time get in, past the idle ones
                assert client.get("/health", headers={"Connection": "close"}).status_code == 200
        assert time.monotonic() - started < TIMEOUT  # not by waiting the idle ones out
        still_open = 0
        for sock in idle:
            sock.setblocking(False)
            try:
                still_open += sock.recv(1) != b""
            except BlockingIOError:
                still_open += 1
        assert still_open <= CAP
    finally:
        for sock in idle:
            sock.close()
    _wait_for_log_warning(strict_server)


def _wait_for_log_warning(server: ServerProcess) -> None:
    assert f"{CAP} connections are open, the most this worker keeps" in server.log()


def test_a_keep_alive_connection_survives_refusals(strict_server: ServerProcess) -> None:
    with _connect(strict_server) as sock:
        # 404, 405, malformed JSON, a wrong type: each answered, and the connection serves
        # the next request.
        for request in (b"GET /api/2.0/mlflow/nope HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"PUT /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
                        b"POST /api/2.0/mlflow/registered-models/create HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 3\r\n\r\n{x}",
                        b"POST /api/2.1/unity-catalog/catalogs HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 11\r\n\r\n{\"name\": 1}"):
            sock.sendall(request)
            head, _ = _read_one(sock)
            assert head.split(b" ")[1] in (b"404", b"405", b"400"), head
            assert b"connection: close" not in head.lower()
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = _read_one(sock)
            assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"status":"ok"}'


def test_an_answer_before_the_whole_body_says_it_closes(strict_server: ServerProcess) -> None:
    # Refused by its Content-Length, the body is not read: the answer says the connection
    # closes, and the client reads the answer, not a reset, though it is still sending.
    with _connect(strict_server) as sock:
        sock.sendall(b"POST /api/2.0/mlflow/registered-models/create HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 10000000\r\n\r\n" + b" " * 1_000_000)
        head, body = _read_one(sock)
        assert head.startswith(b"HTTP/1.1 413 ") and b"connection: close" in head.lower()
        assert b"RESOURCE_LIMIT_EXCEEDED" in body
        try:
            sock.sendall(b" " * 1_000_000)  # discarded while the server lingers
            seconds, rest = _seconds_until_closed(sock)
        except ConnectionResetError:
            seconds, rest = 0.0, b""
        assert rest == b"" and seconds < 5


def _read_one(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed"
        body += chunk
    assert len(body) == length
    return head, body
