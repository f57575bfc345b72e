"""Opaque page tokens: what a client hands back to get the next page of a search."""

from __future__ import annotations

import base64
import binascii

import orjson

from modelyard.domain.errors import InvalidPageToken


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode()


def decode_page_token(token: str | None) -> int:
    """The offset a token stands for; an empty token means the first page."""
    if not token:
        return 0
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidPageToken("Invalid page token, could not base64-decode") from None
    offset = payload.get("offset") if isinstance(payload, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidPageToken("Invalid page token: it does not name a position in the results.")
    return offset
