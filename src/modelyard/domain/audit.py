"""The audit trail's shared values: what a search asks for, and where the hash chain starts."""

from __future__ import annotations

from dataclasses import dataclass

#: The `prev_hash` of the chain's first row (events/chain.py computes and checks the chain,
#: store/audit.py appends to it).
GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A search of the audit trail: every field given must match (times: since <= t < until)."""

    object_type: str | None = None
    object_name: str | None = None
    actor: str | None = None
    action: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    request_id: str | None = None
