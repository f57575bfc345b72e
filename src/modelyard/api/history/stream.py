"""GET /api/modelyard/v1/events/stream: the live event stream, as server-sent events.

    ?model=<full name>&alias=<alias>&type=<action or kind>[,...]   (all optional)

Each event is `id: <history id>`, `event: <action>`, `data: <JSON object>`; a reconnecting
client sends `Last-Event-ID` (or `?last_event_id=`) and receives what it missed, in order.
Comments (`: keep-alive`) go out about every `--stream-keepalive` seconds (the hub's tick) so
that proxies and clients do not take an idle stream for a dead one. Only events of models the
caller may read are sent (asked once per model per stream).

A minimal implementation rather than sse-starlette: an idle subscriber here is one coroutine
and one pending receive; sse-starlette runs a task group of four tasks per response (stream,
ping, disconnect listener, exit listener), which 10,000 idle streams pay for in memory.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from modelyard.api.auth import authenticate
from modelyard.api.http_protocol import chunk, direct_writer, server_stopping
from modelyard.api.mlflow.errors import domain_error_response, error_response
from modelyard.domain.errors import ModelyardError
from modelyard.domain.history import ALIAS, Entry
from modelyard.services.event_stream import EventHub, Sink, StreamFilter, Visibility

PATH = "/api/modelyard/v1/events/stream"
_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_KEEPALIVE = b": keep-alive\n\n"


def event_data(e: Entry) -> dict[str, Any]:
    """What one event says: the model's full name, the event type, and where they apply the
    alias with its new and previous version, the model version, the key and the values."""
    data: dict[str, Any] = {"id": e.id, "type": e.action, "kind": e.kind,
                            "registry": e.registry, "model": e.model_name,
                            "actor": e.actor, "time": e.time, "reason": e.reason}
    if e.kind == ALIAS:
        data.update(alias=e.subject, version=e.value, previous_version=e.previous)
    else:
        data.update(version=None if e.version is None else str(e.version),
                    value=e.value, previous_value=e.previous)
        if e.subject:
            data["key"] = e.subject
    return data


@functools.lru_cache(maxsize=1024)
def frame(e: Entry) -> bytes:
    """One event as sent: encoded once per event, not once per subscriber."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (e.id, e.action.encode(),
                                                 orjson.dumps(event_data(e)))


def render_chunked(entries: list[Entry]) -> bytes:
    """Events as one chunk of a chunked response: what the hub writes to sinks (one shared
    function: its result is shared by every subscriber with the same filter)."""
    return chunk(b"".join(frame(e) for e in entries))


_KEEPALIVE_CHUNK = chunk(_KEEPALIVE)


class EventStream(Response):
    """The streaming answer: replays from the cursor, then follows the hub: written to by the
    hub directly while caught up (our own HTTP protocol), else sent through ASGI."""

    def __init__(self, hub: EventHub, cursor: int, wanted: StreamFilter,
                 visibility: Visibility) -> None:
        self.hub, self.cursor, self.wanted = hub, cursor, wanted
        self.visibility = visibility
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n",
                    "more_body": True})
        hub = self.hub
        write = direct_writer(scope)
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[Any] = asyncio.ensure_future(_disconnect(receive))
        hub.subscribers += 1
        try:
            while not hub.closed:
                await self._send_pending(send)
                if write is not None and self.cursor >= hub.last_id:
                    # Caught up: the hub writes to this stream itself until it hands it back
                    # (here, not in a helper coroutine: one frame less per idle stream).
                    handback: asyncio.Future[None] = loop.create_future()
                    sink = Sink(self.wanted, self.visibility, render_chunked, write,
                                _KEEPALIVE_CHUNK, self.cursor, handback)
                    if hub.attach(sink):
                        released = functools.partial(_release, handback)
                        gone.add_done_callback(released)
                        try:
                            await handback
                        finally:
                            gone.remove_done_callback(released)
                            hub.detach(sink)
                            self.cursor = sink.cursor
                        if gone.done():
                            return
                        if sink.stalled and self.cursor >= hub.last_id and not hub.closed:
                            # The client stopped reading: wait for it through ASGI.
                            await send({"type": "http.response.body", "body": _KEEPALIVE,
                                        "more_body": True})
                    continue
                if await hub.wait(gone):
                    if gone.done():
                        return
                    break  # the server is stopping
                if self.cursor >= hub.last_id:  # nothing new: a keep-alive comment
                    await send({"type": "http.response.body", "body": _KEEPALIVE,
                                "more_body": True})
            # The server is stopping: end the response (the client reconnects, with its
            # Last-Event-ID, to the server that takes over).
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            return  # the client went away mid-write
        finally:
            hub.subscribers -= 1
            gone.cancel()

    async def _send_pending(self, send: Send) -> None:
        """What arrived after the cursor, filtered, through ASGI."""
        hub = self.hub
        pending = await hub.after(self.cursor)
        while pending:
            chunk_ = []
            for entry in pending:
                self.cursor = entry.id
                if self.wanted.matches(entry) and await self.visibility.allows(entry):
                    chunk_.append(frame(entry))
            if chunk_:
                await send({"type": "http.response.body", "body": b"".join(chunk_),
                            "more_body": True})
            pending = await hub.after(self.cursor) if self.cursor < hub.last_id else []


def _release(future: asyncio.Future[None], _: object = None) -> None:
    if not future.done():
        future.set_result(None)


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def stream(request: Request) -> Response:
    state = request.app.state
    try:
        actor = await authenticate(request)
    except ModelyardError as error:
        return domain_error_response(error)
    hub: EventHub = state.events
    await hub.start()
    # Streams end when the server starts stopping, not after its graceful period.
    hub.close_when(server_stopping(request.scope))
    q = request.query_params
    last = request.headers.get("last-event-id") or q.get("last_event_id")
    if last is not None:
        if not last.strip().isdigit():
            return error_response("INVALID_PARAMETER_VALUE",
                                  f"Invalid Last-Event-ID '{last}': give the id of the last "
                                  "event received (a whole number).", 400)
        cursor = int(last)
    else:
        # Not the hub's own cursor, which may lag a commit that just happened (the follower
        # reads it a moment later): that event predates this subscriber.
        cursor = max(hub.last_id, await hub.head())
    types = q.get("type")
    wanted = StreamFilter(q.get("model") or None, q.get("alias") or None,
                          frozenset(t.strip() for t in types.split(",") if t.strip())
                          if types else None)
    return EventStream(hub, cursor, wanted, Visibility(actor, state.history.may_read))


def routes() -> list[BaseRoute]:
    return [Route(PATH, stream, methods=["GET"])]
