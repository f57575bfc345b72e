"""A model's activity tab: its audit trail, in either registry."""

from __future__ import annotations

from typing import Any

from modelyard.domain.audit import AuditQuery
from modelyard.domain.errors import ModelyardError
from modelyard.services.audit import AuditEvent
from modelyard.services.context import Actor

MAX_EVENTS = 200


def model_events(state: Any, actor: Actor, name: str) -> list[AuditEvent] | None:
    """The model's audit trail, newest first; None when the caller may not read it."""
    try:
        events, _ = state.audit.search(
            actor, AuditQuery(object_type="registered_model", object_name=name),
            max_results=MAX_EVENTS)
    except ModelyardError:
        return None
    events = list(events)
    events.reverse()
    return events
