"""uvicorn's httptools protocol, sending each small response in one write.

uvicorn writes a response's status line and headers to the socket as soon as the application
starts the response, then the body as a second write: two `send` calls and two TCP segments per
answer. On loopback each send also runs the receiving side's network stack on the sender's CPU,
so the second one cost a point read ~10% of its server CPU (bench/, issue 6). Here the
connection's transport holds small writes and sends them together when the response is
complete (a streamed body's chunks: at the event loop's next turn); a large write (a file
download's chunks) goes out at once, after what is held.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Writes at least this big are not held (nor copied into a joined buffer).
_HOLD_LIMIT = 64 * 1024


class CoalescingTransport:
    """A transport that joins the writes of one event-loop turn into one `write`."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_size = 0

    def write(self, data: bytes) -> None:
        if len(data) >= _HOLD_LIMIT:
            self.flush()
            self._transport.write(data)
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)
        self._held_size += len(data)
        if self._held_size >= _HOLD_LIMIT:
            self.flush()

    def flush(self) -> None:
        if self._held:
            held = self._held
            self._held, self._held_size = [], 0
            # A flush scheduled for the loop's next turn may find the connection gone (the
            # client left mid-stream): uvloop's transports raise on a write after close.
            if not self._transport.is_closing():
                self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held, self._held_size = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # Everything else (flow control, extra info, is_closing) is the real transport's.
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """What `modelyard serve` gives uvicorn as its HTTP protocol."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        # The whole response is written: send it now. Left to the loop's next turn, it waited
        # behind every task already queued in this one: at concurrency 8, up to seven other
        # requests' work (a search's answer ~7 ms).
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()
