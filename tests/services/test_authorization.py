"""services/authorization.py: who may do what, decided on a real database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelyard.bootstrap import Modelyard
from modelyard.domain.access import Level
from modelyard.domain.actor import Actor
from modelyard.domain.errors import PermissionDenied, RegisteredModelNotFound
from modelyard.domain.principals import Kind
from modelyard.services import authorization
from modelyard.services.grants import parse_change
from tests.services.conftest import ADMIN, uc_model


def _level(built: Modelyard, actor: Actor, name: str, needed: Level) -> Level:
    with built.units.read(actor) as uow:
        return authorization.require_workspace_model(uow.conn, actor, name, needed, "test.op")


def test_workspace_levels_come_from_creator_user_and_groups(
        built: Modelyard, unique: str, new_user: Callable[[str], Actor]) -> None:
    creator, member = new_user("creator"), new_user("member")
    built.identity.create_principal(ADMIN, Kind.GROUP, f"team-{unique}")
    built.identity.add_member(ADMIN, f"team-{unique}", member.name)
    member = Actor(member.name, groups=frozenset({f"team-{unique}"}))

    built.registry.create_registered_model(creator, unique)  # creating needs no level
    assert _level(built, creator, unique, Level.CAN_MANAGE) is Level.CAN_MANAGE
    with pytest.raises(RegisteredModelNotFound):
        _level(built, member, unique, Level.CAN_READ)

    _, model_id, _ = built.transitions.get_model_with_level(ADMIN, unique)
    built.workspace_permissions.change(ADMIN, str(model_id), [(f"team-{unique}",
                                                               Level.CAN_EDIT)], replace=False)
    assert _level(built, member, unique, Level.CAN_READ) is Level.CAN_EDIT
    with pytest.raises(PermissionDenied, match="CAN_MANAGE"):
        _level(built, member, unique, Level.CAN_MANAGE)
    assert _level(built, ADMIN, unique, Level.CAN_MANAGE) is Level.CAN_MANAGE


def test_unity_catalog_privileges_follow_the_path(built: Modelyard, unique: str,
                                                 new_user: Callable[[str], Actor]) -> None:
    full_name = uc_model(built, unique)
    user = new_user("uc")

    def may(op: str) -> bool:
        with built.units.read(user) as uow:
            return authorization.uc_may(uow.conn, user, op, full_name)

    assert not may("model.read")
    for kind, name, privilege in (("catalog", "main", "USE CATALOG"),
                                  ("schema", "main.default", "USE SCHEMA"),
                                  ("function", full_name, "EXECUTE")):
        built.grants.update(ADMIN, kind, name, [parse_change(user.name, [privilege], [])])
    assert may("model.read") and may("model.execute")
    assert not may("model.manage")
    with built.units.read(user) as uow, pytest.raises(PermissionDenied,
                                                      match="does not have MANAGE"):
        authorization.require_uc(uow.conn, user, "model.manage", full_name)


def test_readers_filter(new_user: Callable[[str], Actor]) -> None:
    user = new_user("search")
    assert authorization.readers_filter(ADMIN, 0) is None
    assert authorization.readers_filter(user, int(Level.CAN_READ)) is None
    assert authorization.readers_filter(user, 0) == user.principals
