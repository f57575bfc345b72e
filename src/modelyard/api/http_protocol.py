"""uvicorn's httptools protocol, sending each small response in one write, and holding no
connection longer than its client deserves.

One write per response: uvicorn writes a response's status line and headers to the socket as
soon as the application starts the response, then the body as a second write: two `send`
calls and two TCP segments per answer. On loopback each send also runs the receiving side's
network stack on the sender's CPU, so the second one cost a point read ~10% of its server CPU
(bench/, issue 6). Here the connection's transport holds small writes and sends them together
when the response is complete (a streamed body's chunks: at the event loop's next turn); a
large write (a file download's chunks) goes out at once, after what is held.

Slow and idle clients (issue 15): uvicorn waits forever for a request's headers and body, so
connections that send nothing, half a request line or half a body piled up until the process
ran out of file descriptors. Each connection here notes when the server began waiting on its
client, and one sweep per process and tick closes those that waited too long: for the headers
of a request (or a new connection's first), for the next piece of a body, on an idle
keep-alive connection, or for a client that stopped reading its response. Past
`max_connections` a new connection makes room by closing those that have waited longest on
their clients, so that /health and real clients always get in. A request's line and headers
may take 64 KiB (431 past that). The hot path pays a few attribute writes per request, and no
timer is armed or cancelled for any of this (not even uvicorn's keep-alive timer any more).

Bodies nobody reads: an answer given before the request's body has fully arrived (a 413, a
401, a 404) says `Connection: close`, and the connection then closes gracefully: it sends its
FIN, discards what the client still sends for a moment, and only then closes, so that the
client reads the answer instead of a reset (a plain close with unread data sends a RST, which
can destroy the answer in flight).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
import weakref
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

log = logging.getLogger("modelyard.http")

#: Writes at least this big are not held (nor copied into a joined buffer).
_HOLD_LIMIT = 64 * 1024
#: How long a connection closing after an answer to an unread request keeps discarding what
#: the client still sends: seconds, and bytes (by then the answer has long reached the client).
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 * 1024 * 1024
#: File descriptors kept for everything else a worker opens (database, files, pipes).
_SPARE_FDS = 100
#: Seconds between two warnings that the connection cap was reached.
_CAP_WARNING_INTERVAL = 60.0

# What a connection is receiving: nothing of a request yet, its line and headers, its body.
_IDLE, _HEADERS, _BODY = 0, 1, 2
#: Bytes a request's line and headers may take (they are joined as they arrive: unbounded,
#: a client made the server copy ever longer strings).
MAX_HEAD = 64 * 1024


def _plain(status: bytes, text: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" +
            text)


_REQUEST_TIMEOUT = _plain(b"408 Request Timeout", b"Request timed out")
_HEAD_TOO_LARGE = _plain(b"431 Request Header Fields Too Large",
                         b"The request line and headers are larger than 64 KiB")


#: The scope key naming the connection's protocol (for `direct_writer`).
CONNECTION = "modelyard.connection"


def direct_writer(scope: MutableMapping[str, Any]) -> Callable[[bytes], bool] | None:
    """For a response already started with chunked encoding on one of our connections: a
    function writing one chunk's bytes (already framed) straight to the socket, at once, or
    answering False when it cannot (the client stopped reading or left, the response is over):
    then the caller sends through ASGI, which waits for the client. None: no such connection
    (another server, HTTP/1.0, a test transport).

    The event stream's fan-out uses it: an alias move reaches 10,000 idle subscribers as
    10,000 socket writes of one shared buffer, without waking 10,000 tasks and passing each
    chunk through every middleware's `send` (bench/streams.py)."""
    protocol = scope.get(CONNECTION)
    if not isinstance(protocol, HttpProtocol):
        return None
    cycle = protocol.cycle
    if cycle is None or cycle.scope is not scope or not cycle.chunked_encoding or \
            not cycle.response_started:
        return None
    transport = protocol.transport
    flow = protocol.flow

    def write(data: bytes) -> bool:
        if cycle.response_complete or cycle.disconnected or flow.write_paused or \
                protocol.cycle is not cycle or transport.is_closing():
            return False
        transport.write_now(data)  # type: ignore[attr-defined]
        return True

    return write


def server_stopping(scope: MutableMapping[str, Any]) -> asyncio.Future[None] | None:
    """For a request on one of our connections: a future done when its server starts stopping
    (before uvicorn waits, up to --graceful-timeout, for open responses to end). A response
    that only ends when its client leaves (the event stream) ends then, so that a stop takes a
    moment, not the whole graceful period. None: no such connection."""
    protocol = scope.get(CONNECTION)
    if not isinstance(protocol, HttpProtocol):
        return None
    return _Guard.of(protocol).stopping


def chunk(body: bytes) -> bytes:
    """`body` framed as one chunk of a chunked response (what uvicorn writes for a body)."""
    return b"%x\r\n%b\r\n" % (len(body), body)


@dataclass(frozen=True)
class ConnectionLimits:
    """How long the server waits on a client, and how many connections one worker keeps."""

    #: Seconds to send a request's line and headers, counted from its first byte (and for a
    #: new connection, from the connection).
    header_timeout: float = 10.0
    #: Seconds a request body may go without a byte arriving while the server reads it, and a
    #: response without the client reading any of it.
    body_timeout: float = 30.0
    #: Seconds an open connection may sit between two requests.
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000

    @property
    def tick(self) -> float:
        """Seconds between two sweeps: a timeout is enforced within a quarter of itself."""
        shortest = min(self.header_timeout, self.body_timeout, self.keep_alive_timeout)
        return max(0.05, min(1.0, shortest / 4))

    def effective_max_connections(self) -> int:
        """`max_connections`, lowered to what the open-files limit leaves room for."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(16, min(self.max_connections, soft - _SPARE_FDS))


class CoalescingTransport:
    """A transport that joins the writes of one event-loop turn into one `write`, and closes
    gracefully while its protocol is still receiving part of a request."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop,
                 protocol: HttpProtocol | None = None) -> None:
        self._transport = transport
        self._loop = loop
        self._protocol = protocol
        self._held: list[bytes] = []
        self._held_size = 0
        self._closing = False

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

    def write_now(self, data: bytes) -> None:
        """Write `data` after what is held, at once (not at the loop's next turn)."""
        self.flush()
        if not self._transport.is_closing():
            self._transport.write(data)

    def flush(self) -> None:
        if self._held:
            held = self._held
            self._held, self._held_size = [], 0
            # A flush scheduled for the loop's next turn may find the connection gone (the
            # client left mid-stream): uvloop's transports raise on a write after close.
            if not self._transport.is_closing():
                self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def is_closing(self) -> bool:
        return self._closing or self._transport.is_closing()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.flush()
        protocol = self._protocol
        if protocol is None or not protocol.input_pending() or \
                not self._transport.can_write_eof():
            self._transport.close()
            return
        # The client is still sending a request nobody will read. Closing now would answer its
        # next packet with a RST, which may destroy the response before the client reads it:
        # send the FIN after the response instead, discard what comes in for a moment, then
        # close (the client's own FIN closes it sooner).
        protocol.discard_input(self._transport.close)
        self._transport.write_eof()
        self._loop.call_later(LINGER_SECONDS, self._transport.close)

    def abort(self) -> None:
        self._closing = True
        self._held, self._held_size = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # Everything else (flow control, extra info) is the real transport's.
        return getattr(self._transport, name)


class _Discard:
    """Stands in for the HTTP parser of a connection that only waits to close: drops what
    arrives, and closes after LINGER_BYTES of it."""

    def __init__(self, close: Callable[[], None]) -> None:
        self._close = close
        self._left = LINGER_BYTES

    def feed_data(self, data: bytes) -> None:
        self._left -= len(data)
        if self._left < 0:
            self._close()


class HttpProtocol(HttpToolsProtocol):
    """What `modelyard serve` gives uvicorn as its HTTP protocol (through `protocol_factory`,
    which binds the limits)."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None,
                 limits: ConnectionLimits | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits or ConnectionLimits()
        #: What the connection is receiving (_IDLE, _HEADERS, _BODY).
        self.receiving = _IDLE
        #: When the server began waiting on this client (loop time), None while the client is
        #: waiting on the server; `wait_limit`: how long that wait may last.
        self.waiting_since: float | None = None
        self.wait_limit = self.limits.header_timeout
        #: When the transport stopped taking our writes (the client stopped reading).
        self.write_paused_since: float | None = None
        self._keep_alive = True
        #: Bytes received on the connection; at the chunk the current request began.
        self.received = 0
        self.head_mark = 0

    # ---- connections -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop, self))  # type: ignore[arg-type]
        self._wait(self.limits.header_timeout)
        _Guard.of(self).admit(self)

    def _wait(self, limit: float) -> None:
        self.waiting_since = self.loop.time()
        self.wait_limit = limit

    def input_pending(self) -> bool:
        """Whether part of a request is still arriving (a closing connection discards it)."""
        return self.receiving != _IDLE

    def discard_input(self, close: Callable[[], None]) -> None:
        """Drop what still arrives; `close` after LINGER_BYTES of it."""
        self.parser = _Discard(close)
        self.flow.resume_reading()  # reading may be paused: the application took no more

    def evictable(self) -> bool:
        """Whether the server is waiting on this client (and not the other way round)."""
        return self.waiting_since is not None and not self.transport.is_closing() and not (
            self.receiving == _BODY and self.flow.read_paused)

    def time_out(self, reason: str) -> None:
        """Close the connection: it waited `reason` too long on its client (or is evicted)."""
        log.debug("closing the connection from %s: %s", _peer(self.client), reason)
        cycle = self.cycle
        if self.receiving != _IDLE and (cycle is None or not cycle.response_started or
                                        cycle.response_complete):
            # Half a request arrived: say why it goes unanswered. (Not on an idle
            # connection: a client sending its next request would take this for the answer.)
            self.transport.write(_REQUEST_TIMEOUT)
        self.receiving = _IDLE  # nothing left worth lingering for
        self.waiting_since = None
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)
        # Counted from the chunk after the one the request began in (which may hold earlier
        # pipelined requests): the head may pass MAX_HEAD by a chunk, never more.
        if self.receiving == _HEADERS and self.received - self.head_mark > MAX_HEAD and \
                not self.transport.is_closing():
            log.debug("refusing a request from %s: its head is over %d bytes",
                      _peer(self.client), MAX_HEAD)
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()

    # ---- the parser's callbacks: what the connection waits for ---------------------------

    def on_message_begin(self) -> None:
        self.receiving = _HEADERS
        self.head_mark = self.received
        self._wait(self.limits.header_timeout)
        super().on_message_begin()
        # The connection, for `direct_writer` (the old scope's reference goes with it: the
        # protocol holds only the current request's scope, so no reference cycle outlives a
        # request).
        self.scope[CONNECTION] = self  # type: ignore[literal-required]

    def on_headers_complete(self) -> None:
        self.receiving = _BODY
        self._wait(self.limits.body_timeout)
        super().on_headers_complete()
        # An answer started before the whole body arrived says `Connection: close` (and
        # uvicorn then closes): the rest of the body would otherwise be read to its end, and
        # for nothing. on_message_complete gives the request its keep-alive back.
        cycle = self.cycle
        if cycle is not None:  # None: an upgrade uvicorn took over
            self._keep_alive = cycle.keep_alive
            cycle.keep_alive = False

    def on_body(self, body: bytes) -> None:
        self.waiting_since = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.receiving = _IDLE
        self.waiting_since = None  # the server owes the answer now
        cycle = self.cycle
        if not cycle.response_started:
            cycle.keep_alive = self._keep_alive
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # The whole response is written: send it now. Left to the loop's next turn, it waited
        # behind every task already queued in this one: at concurrency 8, up to seven other
        # requests' work (a search's answer ~7 ms).
        self.transport.flush()  # type: ignore[attr-defined]
        # uvicorn's own, except that the keep-alive wait is the sweep's like every other: no
        # timer armed here and cancelled by the next request (a few µs a request).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # the next request already came: start it
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self.receiving == _IDLE:
            self._wait(self.limits.keep_alive_timeout)

    def shutdown(self) -> None:
        self._keep_alive = False  # what on_message_complete restores must not undo this
        # uvicorn asks every connection to finish when the server stops, then waits for them:
        # responses that never end on their own (the event stream) end now (server_stopping).
        stopping = _Guard.of(self).stopping
        if not stopping.done():
            stopping.set_result(None)
        super().shutdown()

    # ---- flow control: a client that stops reading ---------------------------------------

    def pause_writing(self) -> None:
        self.write_paused_since = self.loop.time()
        super().pause_writing()

    def resume_writing(self) -> None:
        self.write_paused_since = None
        super().resume_writing()


def protocol_factory(limits: ConnectionLimits) -> Any:
    """What to pass uvicorn as `http=`: HttpProtocol with these limits (picklable, for the
    worker processes)."""
    return functools.partial(HttpProtocol, limits=limits)


class _Guard:
    """One per server (per worker process): the periodic sweep and the connection cap."""

    _of: weakref.WeakKeyDictionary[ServerState, _Guard] = weakref.WeakKeyDictionary()

    def __init__(self, protocol: HttpProtocol) -> None:
        self.loop = protocol.loop
        self.connections = protocol.connections
        self.limits = protocol.limits
        self.cap = protocol.limits.effective_max_connections()
        self.sweeping = False
        self.last_cap_warning = -_CAP_WARNING_INTERVAL
        #: Done when the server starts stopping (server_stopping).
        self.stopping: asyncio.Future[None] = protocol.loop.create_future()

    @classmethod
    def of(cls, protocol: HttpProtocol) -> _Guard:
        guard = cls._of.get(protocol.server_state)
        if guard is None:
            guard = cls._of[protocol.server_state] = cls(protocol)
        return guard

    def admit(self, newcomer: HttpProtocol) -> None:
        if not self.sweeping:
            self.sweeping = True
            self.loop.call_later(self.limits.tick, self.sweep)
        if len(self.connections) <= self.cap:
            return
        now = self.loop.time()
        if now - self.last_cap_warning >= _CAP_WARNING_INTERVAL:
            self.last_cap_warning = now
            log.warning("%d connections are open, the most this worker keeps "
                        "(--max-connections): closing those that waited longest on their "
                        "clients", self.cap)
        # One scan makes room for a tenth of the cap: a flood of new connections costs a scan
        # per hundred of them, not one each.
        waiting = [c for c in self.connections
                   if c is not newcomer and isinstance(c, HttpProtocol) and c.evictable()]
        if not waiting:
            newcomer.time_out("the connection cap was reached")
            return
        waiting.sort(key=_waiting_since)
        for connection in waiting[:max(1, self.cap // 10)]:
            connection.time_out("the connection cap was reached")

    def sweep(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            if not isinstance(connection, HttpProtocol) or connection.transport.is_closing():
                continue
            since = connection.waiting_since
            if since is not None and now - since > connection.wait_limit:
                if connection.receiving == _BODY and connection.flow.read_paused:
                    # The application has not taken what arrived yet: not the client's fault.
                    connection.waiting_since = now
                else:
                    connection.time_out(_REASONS[connection.receiving])
                continue
            paused = connection.write_paused_since
            if paused is not None and now - paused > self.limits.body_timeout:
                log.info("closing the connection from %s: it read nothing of its response "
                         "for %g s", _peer(connection.client), self.limits.body_timeout)
                connection.transport.abort()
        if self.connections:
            self.loop.call_later(self.limits.tick, self.sweep)
        else:
            self.sweeping = False


_REASONS = {_IDLE: "no request in time", _HEADERS: "the request headers came too slowly",
            _BODY: "the request body stopped arriving"}


def _waiting_since(connection: HttpProtocol) -> float:
    return connection.waiting_since or 0.0


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"
