"""Opaque page tokens: what a client hands back to get the next page of a search."""

from __future__ import annotations

import base64
import binascii

import orjson

from modelyard.domain.errors import InvalidPageToken

#: No result set comes near this, and an offset (or sequence number) plus a page still fits a
#: BIGINT and SQLite's integers: a token beyond it is not one the server issued.
MAX_OFFSET = 2**62


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
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidPageToken("Invalid page token: it does not name a position in the results. "
                               "Pass the next_page_token of the previous page, or none.")
    return offset
