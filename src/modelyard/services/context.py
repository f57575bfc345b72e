"""Who is calling: every service call acts on behalf of an actor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    is_admin: bool = False


#: Without authentication, on loopback, every call acts as this local administrator.
LOCAL_ADMIN = Actor(name="admin", is_admin=True)
