"""A minimal HTTP/1.1 keep-alive client for the load generator.

The load generator must cost far less CPU than the servers it measures: `http.client` parses
every header block with the `email` package and `httpx` adds more layers on top, so each client
process sends pre-encoded request bytes over one plain socket and parses only what it needs
(status, Content-Length or chunked encoding, Connection: close).
"""

from __future__ import annotations

import socket

_READ_SIZE = 65536


class ProtocolError(OSError):
    """The server sent something this client does not understand, or closed the connection."""


def build_request(method: str, target: str, host: str, body: bytes | None = None,
                  authorization: str | None = None) -> bytes:
    """Encode one request. `target` must already be percent-encoded; `authorization`: the
    Authorization header's value, if any."""
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: modelyard-bench/1",
        "Accept: application/json",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head + (body or b"")


class Connection:
    """One keep-alive connection; reconnects transparently when the server closed it."""

    def __init__(self, host: str, port: int, timeout_s: float = 120.0) -> None:
        self._address = (host, port)
        self._timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._used = False
        self.reconnects = 0

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()
        self._used = False

    def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one encoded request and return (status, body).

        A request on a reused connection that the server had already closed (keep-alive
        timeout) is sent once more on a new connection, as HTTP clients do.
        """
        if self._sock is None:
            self._connect()
        reused = self._used
        try:
            return self._exchange(raw)
        except ProtocolError as exc:
            if not (reused and exc.args and exc.args[0] == "closed before response"):
                self.close()
                raise
        self.close()
        self.reconnects += 1
        self._connect()
        return self._exchange(raw)

    def _connect(self) -> None:
        sock = socket.create_connection(self._address, timeout=self._timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buf.clear()
        self._used = False

    def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        assert self._sock is not None
        try:
            self._sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ProtocolError("closed before response") from exc
        self._used = True
        status, body, close = self._read_response()
        if close:
            self.close()
        return status, body

    def _fill(self, at_start: bool = False) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(_READ_SIZE)
        except ConnectionResetError as exc:
            raise ProtocolError("closed before response" if at_start else "reset") from exc
        if not data:
            raise ProtocolError("closed before response" if at_start else "closed mid-response")
        self._buf += data

    def _read_response(self) -> tuple[int, bytes, bool]:
        buf = self._buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill(at_start=not buf)
        head = bytes(buf[:end])
        del buf[: end + 4]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        close = parts[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if 100 <= status < 200:
            return self._read_response()
        if chunked:
            body = self._read_chunked()
        elif length is not None:
            body = self._read_exact(length)
        elif status in (204, 304):
            body = b""
        else:
            body = self._read_to_eof()
            close = True
        return status, body, close

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _read_line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                return line
            self._fill()

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self._read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._read_line():  # trailers, then the empty line
                    pass
                return b"".join(chunks)
            chunks.append(self._read_exact(size))
            self._read_exact(2)

    def _read_to_eof(self) -> bytes:
        assert self._sock is not None
        while True:
            data = self._sock.recv(_READ_SIZE)
            if not data:
                break
            self._buf += data
        body = bytes(self._buf)
        self._buf.clear()
        return body
