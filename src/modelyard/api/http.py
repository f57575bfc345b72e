"""What every dialect shares: fast JSON responses and reading request bodies."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.input_guard import nul_error, nul_in


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class BodyError(ValueError):
    """The request body is not a JSON object."""


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object in the body; an empty body counts as `{}`."""
    return json_object(await request.body())


def json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in `raw`; empty counts as `{}`. Raises BodyError, or InvalidArgument
    for a NUL character in a key or a string."""
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BodyError(f"Malformed JSON in the request body: {error}") from None
    if not isinstance(body, dict):
        raise BodyError("The request body must be a JSON object.")
    # JSON carries a NUL only as the escape \u0000: its strings cannot hold a raw one.
    if b"\\u0000" in raw and (field := nul_in(body, "")):
        raise nul_error(field)
    return body
