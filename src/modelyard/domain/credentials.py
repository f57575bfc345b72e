"""Temporary credentials for a version's storage location (UC's TemporaryCredentials).

The storage backends vend them, the UC service hands them out, the UC API renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    """What UC's TemporaryCredentials carries; empty credentials mean none are needed."""

    url: str
    expiration_time: int  # epoch ms
    aws_temp_credentials: dict[str, str] = field(default_factory=dict)
