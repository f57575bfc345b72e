"""services/transitions.py: transition requests end by approval, rejection or cancellation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelyard.bootstrap import Modelyard
from modelyard.domain.access import Level
from modelyard.domain.activities import ActivityType
from modelyard.domain.actor import Actor
from modelyard.domain.errors import NotFound, PermissionDenied
from tests.services.conftest import ADMIN, events


@pytest.fixture()
def model(built: Modelyard, unique: str) -> str:
    built.registry.create_registered_model(ADMIN, unique)
    built.registry.create_model_version(ADMIN, unique, "s3://b/1")
    return unique


def _grant(built: Modelyard, name: str, user: Actor, level: Level) -> None:
    _, model_id, _ = built.transitions.get_model_with_level(ADMIN, name)
    built.workspace_permissions.change(ADMIN, str(model_id), [(user.name, level)],
                                       replace=False)


def _kinds(built: Modelyard, name: str) -> list[ActivityType]:
    return [a.activity.activity_type for a in built.transitions.list_activities(ADMIN, name, 1)]


def test_reject_and_cancel_close_the_request(built: Modelyard, model: str) -> None:
    transitions = built.transitions
    transitions.create_request(ADMIN, model, 1, "Staging", "please")
    rejected = transitions.reject(ADMIN, model, 1, "Staging", "not yet")
    assert (rejected.activity_type, rejected.comment) == (ActivityType.REJECTED_REQUEST,
                                                          "not yet")
    transitions.create_request(ADMIN, model, 1, "Production", None)
    cancelled = transitions.cancel(ADMIN, model, 1, "Production", ADMIN.name, None)
    assert cancelled.activity_type is ActivityType.CANCELLED_REQUEST
    assert transitions.list_requests(ADMIN, model, 1) == []
    closed = [k for k in _kinds(built, model) if k is not ActivityType.REQUESTED_TRANSITION]
    assert closed == [ActivityType.REJECTED_REQUEST, ActivityType.CANCELLED_REQUEST]
    [event] = events(built, "transition_request.reject", f"{model}/1")
    assert event.after == {"to_stage": "Staging", "comment": "not yet"}
    with pytest.raises(NotFound, match="No open transition request"):
        transitions.reject(ADMIN, model, 1, "Staging", None)


def test_who_may_reject_and_who_may_cancel(built: Modelyard, model: str,
                                          new_user: Callable[[str], Actor]) -> None:
    requester, other = new_user("requester"), new_user("other")
    _grant(built, model, requester, Level.CAN_READ)
    _grant(built, model, other, Level.CAN_READ)
    built.transitions.create_request(requester, model, 1, "Staging", None)

    # Rejecting needs the level the transition itself needs (domain/access.py): not CAN_READ.
    with pytest.raises(PermissionDenied):
        built.transitions.reject(other, model, 1, "Staging", None)
    # Cancelling: the requester, or a manager; nobody else.
    with pytest.raises(PermissionDenied, match="Only the requester"):
        built.transitions.cancel(other, model, 1, "Staging", requester.name, None)
    built.transitions.cancel(requester, model, 1, "Staging", requester.name, None)


def test_approving_moves_the_version(built: Modelyard, model: str) -> None:
    built.transitions.create_request(ADMIN, model, 1, "Production", None)
    built.transitions.approve(ADMIN, model, 1, "Production", False, "ok")
    assert built.registry.get_model_version(ADMIN, model, 1).current_stage.value == "Production"
