"""What every dialect shares: fast JSON responses and reading request bodies, bounded."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.input_guard import nul_error, nul_in
from modelyard.domain.errors import PayloadTooLarge

#: Deeper JSON is refused: no request of any surface nests more than a few levels, and code
#: that walks a value recursively (the NUL check, the services) must never run out of stack.
MAX_JSON_DEPTH = 64
_PAD = 1024 - MAX_JSON_DEPTH  # orjson's own limit is 1024 levels
_PAD_OPEN, _PAD_CLOSE = b"[" * _PAD, b"]" * _PAD
#: Bodies up to this size are parsed on the event loop (well under a millisecond).
_PARSE_INLINE = 64 * 1024


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class BodyError(ValueError):
    """The request body is not a JSON object."""


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The whole request body, at most `limit` bytes (default: `serve --max-body-size`, the
    bound of every JSON and form body). PayloadTooLarge as soon as the body is known to be
    bigger: at once from its Content-Length, else while it arrives (chunked), never holding
    more than `limit` bytes. What stays unread the protocol discards (api/http_protocol.py)."""
    setting = limit is None
    if limit is None:
        limit = request.app.state.settings.max_body_size
    for name, value in request.scope["headers"]:
        if name == b"content-length":
            # The parser has checked that it is digits; 19 of them are more than any limit.
            if len(value) > 18 or int(value) > limit:
                raise _too_large(limit, setting)
            break
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, setting)
        if chunk:
            chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int, setting: bool) -> PayloadTooLarge:
    hint = (" Send a smaller request, or ask the operator to raise `modelyard serve "
            "--max-body-size`." if setting else "")
    return PayloadTooLarge(
        f"The request body is larger than this server accepts here ({limit:,} bytes).{hint}")


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object in the body; an empty body counts as `{}`."""
    return await json_object(await read_body(request))


async def json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in `raw`; empty counts as `{}`. Raises BodyError. A big body is parsed
    in a worker thread: the event loop gets its turns meanwhile (a megabyte of small arrays
    takes orjson tens of milliseconds)."""
    if len(raw) > _PARSE_INLINE:
        return await run_in_threadpool(_json_object, raw)
    return _json_object(raw)


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = _loads(raw)
    except orjson.JSONDecodeError as error:
        raise BodyError(f"Malformed JSON in the request body: {error}") from None
    if not isinstance(body, dict):
        raise BodyError("The request body must be a JSON object.")
    # JSON carries a NUL only as the escape \u0000: its strings cannot hold a raw one.
    if b"\\u0000" in raw and (field := nul_in(body, "")):
        raise nul_error(field)
    return body


def _loads(raw: bytes) -> Any:
    """orjson.loads, refusing values nested deeper than MAX_JSON_DEPTH.

    orjson refuses nesting past 1024 levels by itself; wrapped in 1024 - MAX_JSON_DEPTH
    arrays, the body passes only if it nests MAX_JSON_DEPTH levels or fewer, checked at
    orjson's speed (walking the parsed value in Python took seconds). Counting brackets runs at
    memory speed: only a body with more than MAX_JSON_DEPTH of them can be too deep.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return orjson.loads(raw)
    try:
        value = orjson.loads(_PAD_OPEN + raw + _PAD_CLOSE)
    except orjson.JSONDecodeError:
        try:
            orjson.loads(raw)  # a syntax error is reported where it is in the body itself
        except orjson.JSONDecodeError as error:
            if not str(error).startswith("depth limit"):
                raise
        raise BodyError(f"The request body nests JSON values more than {MAX_JSON_DEPTH} "
                        f"levels deep; no request needs that many.") from None
    for _ in range(_PAD):
        value = value[0]
    return value
