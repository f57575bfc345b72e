"""Workspace-registry activities: transitions, transition requests and comments on a version."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ActivityType(StrEnum):
    APPLIED_TRANSITION = "APPLIED_TRANSITION"
    REQUESTED_TRANSITION = "REQUESTED_TRANSITION"
    APPROVED_REQUEST = "APPROVED_REQUEST"
    REJECTED_REQUEST = "REJECTED_REQUEST"
    CANCELLED_REQUEST = "CANCELLED_REQUEST"
    NEW_COMMENT = "NEW_COMMENT"
    SYSTEM_TRANSITION = "SYSTEM_TRANSITION"


class RequestState(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


MAX_COMMENT = 65_535


@dataclass(frozen=True, slots=True)
class Activity:
    id: int
    model_name: str
    version: int
    activity_type: ActivityType
    from_stage: str
    to_stage: str
    comment: str
    system_comment: str
    user_id: str
    state: str
    creation_timestamp: int
    last_updated_timestamp: int
