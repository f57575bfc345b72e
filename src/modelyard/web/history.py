"""The History sections of the model and version pages, in both registries: alias moves,
stages, tags, descriptions and versions, with who, when and why; and the reason a form gives."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from modelyard.domain.history import ALIAS
from modelyard.services.context import Actor

#: Entries one page shows (the API pages through the rest).
SHOWN = 200
MAX_REASON = 1000


def model_history(state: Any, actor: Actor, name: str, registry: str) -> dict[str, Any]:
    """The model's history, and which entries' alias moves can be rolled back: each alias's
    latest move, when it came from another version."""
    entries, _ = state.history.entries(actor, name, registry, max_results=SHOWN)
    latest: dict[str, Any] = {}
    for entry in entries:
        if entry.kind == ALIAS:
            latest.setdefault(entry.subject, entry)
    return {"history": entries,
            "rollbackable": {e.id for e in latest.values()
                             if e.value is not None and e.previous is not None}}


def version_history(state: Any, actor: Actor, name: str, registry: str,
                    version: int | str) -> list[Any]:
    """One version's history: its stages, tags, description, its creation."""
    entries, _ = state.history.entries(actor, name, registry, version=int(version),
                                       max_results=SHOWN)
    return entries


def with_reason(actor: Actor, data: Mapping[str, str]) -> Actor:
    """The actor, stating the reason the form gave (optional): recorded with the change."""
    reason = data.get("reason", "").strip()[:MAX_REASON]
    return dataclasses.replace(actor, reason=reason) if reason else actor
