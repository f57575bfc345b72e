"""Integers from request text: ASCII decimal digits only, within what the columns hold.

Python's `int()` also reads other scripts' decimal digits ('١٢' is 12), underscores and
surrounding whitespace, and `str.isdigit()` is true for '²', which `int()` then refuses: both
reached the database or raised a 500. Every integer a client sends is read here instead.
"""

from __future__ import annotations

import re

from modelyard.domain.errors import InvalidArgument

#: The largest value of an INTEGER column on PostgreSQL: ids and version numbers.
INT32_MAX = 2**31 - 1
#: The largest value of a BIGINT column: times, sizes, sequence numbers.
INT64_MAX = 2**63 - 1

_DECIMAL = re.compile(r"[+-]?[0-9]{1,20}", re.ASCII)


def ascii_int(text: str) -> int | None:
    """`text` as an integer when it is an optional sign and ASCII digits, else None."""
    return int(text) if _DECIMAL.fullmatch(text) else None


def parse_int(value: object, name: str, minimum: int = -INT64_MAX - 1,
              maximum: int = INT64_MAX) -> int:
    """A JSON integer or a decimal string in [minimum, maximum]; InvalidArgument otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | None = value
    elif isinstance(value, str):
        number = ascii_int(value.strip(" "))
    else:
        number = None
    if number is None:
        raise InvalidArgument(f"Parameter '{name}' must be an integer written with the digits "
                              f"0-9, got {str(value)[:40]!r}.")
    if not minimum <= number <= maximum:
        raise InvalidArgument(f"Parameter '{name}' must be between {minimum} and {maximum}, "
                              f"got {str(value)[:40]}.")
    return number


def in_range(number: int, maximum: int = INT64_MAX, minimum: int = 0) -> bool:
    return minimum <= number <= maximum
