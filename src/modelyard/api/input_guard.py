"""Refuse NUL characters in every request's path and query string, on every surface.

No text column of PostgreSQL can hold a NUL (SQLite stores it): refused here, in one place before
any surface reads the request, both engines answer alike, with a 400 in the surface's own
format. JSON bodies are checked where they are parsed (api/http.json_object), form bodies in
web/session.form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.domain.errors import InvalidArgument

#: Answers a refused request in its surface's format: (scope, error) -> an ASGI response.
Refuse = Callable[[Scope, InvalidArgument], Any]


def nul_error(name: str) -> InvalidArgument:
    return InvalidArgument(f"Parameter '{name}' contains a NUL character, which cannot be "
                           "stored: remove it.")


def nul_in(value: Any, name: str) -> str | None:
    """The name of the first field of a parsed JSON value holding a NUL (in a key or a
    string), else None."""
    if isinstance(value, str):
        return name if "\x00" in value else None
    if isinstance(value, list):
        return next((found for item in value if (found := nul_in(item, name))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            field = name or key
            if "\x00" in key:
                return field
            found = nul_in(item, field)
            if found:
                return found
    return None


class RefuseNul:
    """ASGI middleware: a NUL in the path or the query string is refused before routing."""

    def __init__(self, app: ASGIApp, refuse: Refuse) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Two substring checks per request: a NUL reaches the query string only as %00.
            if "\x00" in scope["path"]:
                await self.refuse(scope, InvalidArgument(
                    "The path contains a NUL character, which no name can hold: remove it."))(
                    scope, receive, send)
                return
            query: bytes = scope["query_string"]
            if b"%00" in query:
                pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                name = next((key.replace("\x00", "") for key, value in pairs
                             if "\x00" in key or "\x00" in value), None)
                if name is not None:
                    await self.refuse(scope, nul_error(name))(scope, receive, send)
                    return
        await self.app(scope, receive, send)
