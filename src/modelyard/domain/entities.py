"""Registry entities as plain immutable records.

They carry what every dialect may need; each API package decides what to render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from modelyard.domain.stages import Stage


@dataclass(frozen=True, slots=True)
class Alias:
    alias: str
    version: int


# ModelVersion and RegisteredModel are immutable by convention, not `frozen`: a frozen
# dataclass's __init__ sets each field through object.__setattr__, which made constructing one
# 5-8x slower, and a 100-model search builds 200 of them (bench/, issue 6). Nothing hashes them
# (their `tags` dict makes them unhashable anyway).
@dataclass(slots=True)
class ModelVersion:
    model_name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    current_stage: Stage
    description: str
    source: str
    run_id: str
    run_link: str
    status: str
    status_message: str
    logged_model_id: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(slots=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[Alias, ...] = ()
    latest_versions: tuple[ModelVersion, ...] = ()


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a search; `next_page_token` is empty on the last page."""

    items: list[T]
    next_page_token: str = ""
