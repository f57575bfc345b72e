"""services/audit.py: who reads which part of the audit trail (store/audit.owned_objects)."""

from __future__ import annotations

from collections.abc import Callable

from modelyard.bootstrap import Modelyard
from modelyard.domain.actor import Actor
from modelyard.domain.audit import AuditQuery
from tests.services.conftest import ADMIN, uc_model


def _names(built: Modelyard, actor: Actor) -> set[str]:
    found, _ = built.audit.search(actor, AuditQuery(), None, 1000)
    return {event.object_name for event in found}


def test_owners_read_the_events_of_their_objects_only(
        built: Modelyard, unique: str, new_user: Callable[[str], Actor]) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    built.registry.create_registered_model(alice, f"a-{unique}")
    built.registry.create_model_version(alice, f"a-{unique}", "s3://b/1")
    built.registry.create_registered_model(bob, f"b-{unique}")
    full_name = uc_model(built, unique)
    built.uc_models.update_model(ADMIN, full_name, owner=alice.name)

    seen = _names(built, alice)
    assert {f"a-{unique}", f"a-{unique}/1", full_name} <= seen
    assert f"b-{unique}" not in seen
    assert f"b-{unique}" in _names(built, bob) and full_name not in _names(built, bob)
    assert {f"a-{unique}", f"b-{unique}", full_name} <= _names(built, ADMIN)
