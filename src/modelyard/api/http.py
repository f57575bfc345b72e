"""What every dialect shares: fast JSON responses and reading request bodies."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response


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
    """The JSON object in `raw`; empty counts as `{}`. Raises BodyError."""
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BodyError(f"Malformed JSON in the request body: {error}") from None
    if not isinstance(body, dict):
        raise BodyError("The request body must be a JSON object.")
    return body
