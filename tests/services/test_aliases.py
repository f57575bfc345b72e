"""services/aliases.py: one alias use case for both registries, the differences as stated in
domain/aliases.py, and the version before and after recorded in the audit trail on both."""

from __future__ import annotations

import pytest

from modelyard.bootstrap import Modelyard
from modelyard.domain.catalog import Lineage, VersionNotReady
from modelyard.domain.errors import AliasNotFound
from tests.services.conftest import ADMIN, events, ready_version, uc_model


def test_workspace_records_the_version_before_and_after(built: Modelyard, unique: str) -> None:
    registry = built.registry
    registry.create_registered_model(ADMIN, unique)
    for source in ("s3://b/1", "s3://b/2"):
        registry.create_model_version(ADMIN, unique, source)
    registry.set_registered_model_alias(ADMIN, unique, "champion", 1)
    registry.set_registered_model_alias(ADMIN, unique, "champion", 2)
    registry.delete_registered_model_alias(ADMIN, unique, "champion")

    moves = events(built, "registered_model.set_alias", unique)
    assert [(e.before, e.after) for e in moves] == [
        (None, {"alias": "champion", "version": 1}),
        ({"alias": "champion", "version": 1}, {"alias": "champion", "version": 2}),
    ]
    [removed] = events(built, "registered_model.delete_alias", unique)
    assert removed.before == {"alias": "champion", "version": 2}
    assert removed.after is None
    assert registry.get_registered_model(ADMIN, unique).aliases == ()


def test_unity_catalog_records_the_version_before_and_after(built: Modelyard,
                                                            unique: str) -> None:
    full_name = uc_model(built, unique)
    first, second = ready_version(built, full_name), ready_version(built, full_name)
    assert built.uc_models.set_alias(ADMIN, full_name, "champion", first).version == first
    built.uc_models.set_alias(ADMIN, full_name, "champion", second)
    built.uc_models.delete_alias(ADMIN, full_name, "champion")

    moves = events(built, "registered_model.set_alias", full_name)
    assert [(e.before, e.after) for e in moves] == [
        (None, {"alias": "champion", "version": first}),
        ({"alias": "champion", "version": first}, {"alias": "champion", "version": second}),
    ]
    [removed] = events(built, "registered_model.delete_alias", full_name)
    assert removed.before == {"alias": "champion", "version": second}


def test_only_unity_catalog_requires_aready_version(built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    pending = built.uc_models.create_version(ADMIN, full_name, "s3://b/x", lineage=Lineage())
    with pytest.raises(VersionNotReady, match="only READY versions can carry an alias"):
        built.uc_models.set_alias(ADMIN, full_name, "champion", pending.version)
    assert events(built, "registered_model.set_alias", full_name) == []

    # The workspace registry, like MLflow's, takes any version it has.
    built.registry.create_registered_model(ADMIN, unique)
    built.registry.create_model_version(ADMIN, unique, "s3://b/1")
    built.registry.set_registered_model_alias(ADMIN, unique, "champion", 1)
    assert built.registry.get_model_version_by_alias(ADMIN, unique, "champion").version == 1


def test_removing_a_missing_alias_differs_as_stated(built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    with pytest.raises(AliasNotFound, match=f"{full_name}@nope"):
        built.uc_models.delete_alias(ADMIN, full_name, "nope")

    built.registry.create_registered_model(ADMIN, unique)
    built.registry.delete_registered_model_alias(ADMIN, unique, "nope")  # no error, as MLflow
    [removed] = events(built, "registered_model.delete_alias", unique)
    assert removed.before == {"alias": "nope"}


def test_unity_catalog_records_who_moved_it(built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    version = ready_version(built, full_name)
    built.uc_models.set_alias(ADMIN, full_name, "champion", version)
    model = built.uc_models.get_model(ADMIN, full_name)
    assert model.audit.updated_by == ADMIN.name
    assert [(a.alias, a.version) for a in model.aliases] == [("champion", version)]


def test_setting_the_target_it_already_has_moves_nothing(built: Modelyard,
                                                         unique: str) -> None:
    """A set to the version the alias already points at records no move (audit, history), so
    that a rollback afterwards goes back to the version before, in both registries."""
    registry = built.registry
    registry.create_registered_model(ADMIN, unique)
    for source in ("s3://b/1", "s3://b/2"):
        registry.create_model_version(ADMIN, unique, source)
    full_name = uc_model(built, unique)
    first, second = ready_version(built, full_name), ready_version(built, full_name)
    for name, move in ((unique, registry.set_registered_model_alias),
                       (full_name, built.uc_models.set_alias)):
        older, newer = (1, 2) if name == unique else (first, second)
        move(ADMIN, name, "champion", older)
        move(ADMIN, name, "champion", newer)
        move(ADMIN, name, "champion", newer)  # already there

        assert len(events(built, "registered_model.set_alias", name)) == 2
        assert built.history.rollback(ADMIN, name, "champion", "bad model") == older
