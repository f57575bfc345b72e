"""services/registry.py: the workspace registry's use cases, called directly (no HTTP)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelyard.bootstrap import Modelyard
from modelyard.domain.access import Level
from modelyard.domain.actor import Actor
from modelyard.domain.errors import (
    InvalidArgument,
    ModelVersionNotFound,
    PermissionDenied,
    RegisteredModelNotFound,
)
from tests.services.conftest import ADMIN, events


def _grant(built: Modelyard, name: str, user: Actor, level: Level) -> None:
    _, model_id, _ = built.transitions.get_model_with_level(ADMIN, name)
    built.workspace_permissions.change(ADMIN, str(model_id), [(user.name, level)],
                                       replace=False)


def test_versions_are_numbered_from_one_and_never_reused(built: Modelyard, unique: str) -> None:
    registry = built.registry
    registry.create_registered_model(ADMIN, unique, tags={"team": "fraud"}, description="d")
    assert [registry.create_model_version(ADMIN, unique, f"s3://b/{i}").version
            for i in range(2)] == [1, 2]
    registry.delete_model_version(ADMIN, unique, 2)
    assert registry.create_model_version(ADMIN, unique, "s3://b/3").version == 3
    with pytest.raises(ModelVersionNotFound):
        registry.get_model_version(ADMIN, unique, 2)
    model = registry.get_registered_model(ADMIN, unique)
    assert (model.tags, model.description) == ({"team": "fraud"}, "d")
    assert [v.version for v in model.latest_versions] == [3]


def test_bad_input_is_refused_before_any_change(built: Modelyard, unique: str) -> None:
    with pytest.raises(InvalidArgument):
        built.registry.create_registered_model(ADMIN, "")
    built.registry.create_registered_model(ADMIN, unique)
    with pytest.raises(InvalidArgument):
        built.registry.set_registered_model_alias(ADMIN, unique, "v1", 1)  # reserved form
    assert events(built, "registered_model.set_alias", unique) == []


def test_levels_decide_what_a_user_may_do(built: Modelyard, unique: str,
                                         new_user: Callable[[str], Actor]) -> None:
    registry, user = built.registry, new_user("reader")
    registry.create_registered_model(ADMIN, unique)
    registry.create_model_version(ADMIN, unique, "s3://b/1")

    # No level: the model is hidden, and the refusal is in the audit trail.
    with pytest.raises(RegisteredModelNotFound):
        registry.get_registered_model(user, unique)
    assert events(built, "denied.registered_model.get", unique)
    assert unique not in [m.name for m in registry.search_registered_models(user).items]

    _grant(built, unique, user, Level.CAN_READ)
    assert registry.get_model_version(user, unique, 1).source == "s3://b/1"
    assert unique in [m.name for m in registry.search_registered_models(user).items]
    with pytest.raises(PermissionDenied, match="CAN_EDIT"):
        registry.set_registered_model_alias(user, unique, "champion", 1)

    _grant(built, unique, user, Level.CAN_EDIT)
    registry.set_registered_model_alias(user, unique, "champion", 1)
    assert registry.get_model_version_by_alias(user, unique, "champion").version == 1
    with pytest.raises(PermissionDenied):
        registry.delete_registered_model(user, unique)


def test_a_three_level_name_in_a_uc_schema_is_created_in_unity_catalog(
        built: Modelyard, unique: str) -> None:
    full_name = f"main.default.{unique}"
    created = built.registry.create_registered_model(ADMIN, full_name, description="promoted")
    assert created.name == full_name
    assert built.uc_models.get_model(ADMIN, full_name).comment == "promoted"
    with pytest.raises(RegisteredModelNotFound):
        built.registry.get_registered_model(ADMIN, full_name)  # not in the workspace


def test_stage_transitions_archive_the_others(built: Modelyard, unique: str) -> None:
    registry = built.registry
    registry.create_registered_model(ADMIN, unique)
    for i in range(2):
        registry.create_model_version(ADMIN, unique, f"s3://b/{i}")
    registry.transition_model_version_stage(ADMIN, unique, 1, "Production")
    moved = registry.transition_model_version_stage(ADMIN, unique, 2, "Production",
                                                    archive_existing_versions=True)
    assert moved.current_stage.value == "Production"
    assert registry.get_model_version(ADMIN, unique, 1).current_stage.value == "Archived"
    assert [v.version for v in registry.get_latest_versions(ADMIN, unique, ["Production"])] == [2]
