"""What every dialect shares: fast JSON responses and reading request bodies, bounded."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard.domain.errors import PayloadTooLarge

#: Deeper JSON is refused: no request of any surface nests more than a few levels, and code
#: that walks a value recursively (the NUL check, the services) must never run out of stack.
MAX_JSON_DEPTH = 64


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
    return json_object(await read_body(request))


def json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in `raw`; empty counts as `{}`. Raises BodyError."""
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BodyError(f"Malformed JSON in the request body: {error}") from None
    if not isinstance(body, dict):
        raise BodyError("The request body must be a JSON object.")
    # Counting brackets runs at memory speed; only a body with more of them than the depth
    # allowed can be too deep, and only then is the parsed value walked.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _too_deep(body):
        raise BodyError(f"The request body nests JSON values more than {MAX_JSON_DEPTH} "
                        f"levels deep; no request needs that many.")
    return body


def _too_deep(value: dict[str, Any]) -> bool:
    """Whether `value` holds containers nested more than MAX_JSON_DEPTH deep (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False
