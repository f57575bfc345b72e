"""A change as the audit trail, the webhooks and the grants see it.

Services record these in their unit of work (services/unit_of_work.py); the commit hooks
(services/audit.py, services/webhooks.py, services/grants.py) and the webhook dispatcher
(events/webhooks.py) read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One change (or one denied request) as the audit trail and webhooks see it."""

    action: str  # e.g. "registered_model.create", "registered_model.set_alias"
    object_type: str  # e.g. "registered_model", "model_version", "catalog"
    object_name: str  # e.g. "fraud-model", "fraud-model/3", "main.fraud.detector/3"
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    #: Which registry the change is in: "workspace" or "uc" (only workspace events fire
    #: registry webhooks).
    registry: str = "workspace"
    #: Why the change was made, when the caller said (alias moves, rollbacks...): the model
    #: history (services/history.py) records it.
    reason: str | None = None
