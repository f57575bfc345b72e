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


def test_the_chain_holds_for_awkward_contents_and_several_events_per_write(
        built: Modelyard, unique: str) -> None:
    """On PostgreSQL the database chains each row as it inserts it (store/audit.py); the hash
    it computes must be the one `audit verify` recomputes, whatever the row holds."""
    from modelyard.services import audit

    name = f"{unique}-ü \"quoted\" \\ backslash \u2028 🚀"
    description = "line\nbreak, tab\t, NUL-free, \u00e9\u0301, 'single', {\"json\": [1, 2]}"
    built.registry.create_registered_model(ADMIN, name, description=description)
    # Several events in one unit of work: a model with tags, each chained on the one before.
    built.registry.create_registered_model(ADMIN, f"{unique}-tags", description="",
                                           tags={"a": "1", "b": "ü"})
    built.registry.delete_registered_model(ADMIN, name)
    problems, head = audit.verify(built.audit.units.database)
    assert problems == []
    assert head is not None
    found, _ = built.audit.search(ADMIN, AuditQuery(object_name=name), None, 100)
    assert {event.action for event in found} >= {"registered_model.create",
                                                  "registered_model.delete"}
    created = [event for event in found if event.action == "registered_model.create"]
    assert created[0].after["description"] == description  # stored as written
