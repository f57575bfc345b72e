"""Who is calling: every service call acts on behalf of an actor.

A value every layer passes along (adapters build it, services check it, the audit trail and the
webhook payloads name it), so it lives here, below all of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    #: A metastore admin: every privilege on every object, in both registries.
    is_admin: bool = False
    #: The actor's own name and every group it belongs to, directly or through other groups;
    #: grants and permission levels given to any of these apply to the actor.
    groups: frozenset[str] = frozenset()
    #: Set by the authentication layer, for the audit trail.
    request_id: str = ""
    client_address: str = ""
    #: Why the caller makes its changes, when it said (the `X-Modelyard-Reason` header, a web
    #: form's reason field): recorded with every change of the request (history, audit).
    reason: str | None = None

    @property
    def principals(self) -> frozenset[str]:
        return self.groups | {self.name}


#: Without authentication, on loopback, every call acts as this local administrator.
LOCAL_ADMIN = Actor(name="admin", is_admin=True)

#: Who a denied unauthenticated request is recorded as.
ANONYMOUS = "anonymous"

#: Who the periodic sweeps act as in the audit trail.
SYSTEM = Actor(name="system", is_admin=True)
