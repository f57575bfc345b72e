"""The HTTP protocol `modelyard serve` runs: whole responses in one write, order and ends kept."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from modelyard.api.http_protocol import CoalescingTransport
from tests.support.asyncio_thread import run_async
from tests.support.server import ServerProcess


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
