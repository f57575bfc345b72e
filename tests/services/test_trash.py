"""services/trash.py: deleting moves to the trash (gone from every read, name free at once,
numbers never reused, files kept); owners and admins restore or purge; the sweep purges after
the retention period; legal holds block deleting and purging; every step is audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelyard.bootstrap import Modelyard
from modelyard.domain.actor import Actor
from modelyard.domain.errors import (
    AlreadyExists,
    ModelVersionNotFound,
    NotFound,
    PermissionDenied,
    RegisteredModelNotFound,
)
from modelyard.domain.trash import DAY_MS, UnderLegalHold
from modelyard.storage.local import file_uri_to_path
from tests.services.conftest import ADMIN, events, ready_version, uc_model


def _workspace_model(built: Modelyard, name: str, versions: int = 2) -> None:
    built.registry.create_registered_model(ADMIN, name, tags={"team": "fraud"},
                                           description="d")
    for i in range(versions):
        built.registry.create_model_version(ADMIN, name, f"s3://b/{i}", tags={"n": str(i)})


def _trash_names(built: Modelyard, actor: Actor = ADMIN) -> set[tuple[str, str | None]]:
    return {(i.name, None if i.version is None else str(i.version))
            for i in built.trash.contents(actor)}


def test_workspace_model_to_trash_and_back(built: Modelyard, unique: str) -> None:
    _workspace_model(built, unique)
    built.registry.set_registered_model_alias(ADMIN, unique, "champion", 2)
    built.registry.delete_registered_model(ADMIN, unique)

    with pytest.raises(RegisteredModelNotFound):
        built.registry.get_registered_model(ADMIN, unique)
    assert not built.registry.search_registered_models(ADMIN, f"name = '{unique}'").items
    assert not built.registry.search_model_versions(ADMIN, f"name = '{unique}'").items
    assert (unique, None) in _trash_names(built)
    [deleted] = events(built, "registered_model.delete", unique)
    assert deleted.after and "expires_at" in deleted.after["trash"]

    # The name is free at once; restoring into it is refused while it is taken.
    built.registry.create_registered_model(ADMIN, unique)
    with pytest.raises(AlreadyExists, match="the name was reused"):
        built.trash.restore(ADMIN, unique)
    built.registry.rename_registered_model(ADMIN, unique, f"{unique}-new")

    built.trash.restore(ADMIN, unique)
    model = built.registry.get_registered_model(ADMIN, unique)
    assert model.tags == {"team": "fraud"} and model.description == "d"
    assert [(a.alias, a.version) for a in model.aliases] == [("champion", 2)]
    versions = built.registry.search_model_versions(ADMIN, f"name = '{unique}'").items
    assert sorted((v.version, v.tags["n"]) for v in versions) == [(1, "0"), (2, "1")]
    assert (unique, None) not in _trash_names(built)
    assert events(built, "registered_model.restore", unique)
    # Numbering goes on where it was.
    assert built.registry.create_model_version(ADMIN, unique, "s3://b/3").version == 3


def test_workspace_version_to_trash_numbers_never_reused(built: Modelyard,
                                                         unique: str) -> None:
    _workspace_model(built, unique)
    built.registry.set_registered_model_alias(ADMIN, unique, "champion", 2)
    built.registry.set_registered_model_alias(ADMIN, unique, "newest", 2)
    built.registry.delete_model_version(ADMIN, unique, 2)
    with pytest.raises(ModelVersionNotFound):
        built.registry.get_model_version(ADMIN, unique, 2)
    assert built.registry.get_registered_model(ADMIN, unique).aliases == ()
    assert built.registry.create_model_version(ADMIN, unique, "s3://b/x").version == 3
    built.registry.set_registered_model_alias(ADMIN, unique, "newest", 3)

    built.trash.restore(ADMIN, unique, "2")
    restored = built.registry.get_model_version(ADMIN, unique, 2)
    assert restored.tags == {"n": "1"} and restored.source == "s3://b/1"
    # @champion was free and comes back; @newest moved meanwhile and stays.
    assert restored.aliases == ("champion",)
    assert built.registry.get_model_version_by_alias(ADMIN, unique, "newest").version == 3
    [restore] = events(built, "model_version.restore", f"{unique}/2")
    assert restore.after and restore.after["aliases"] == ["champion"]


def test_uc_model_restore_brings_files_back_equal_and_purge_removes_them(
        built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    number = ready_version(built, full_name)
    built.uc_models.set_model_tag(ADMIN, full_name, "k", "v")
    built.uc_models.set_version_tag(ADMIN, full_name, number, "vk", "vv")
    built.uc_models.set_alias(ADMIN, full_name, "champion", number)
    before, files = built.uc_models.version_files(ADMIN, full_name, number)
    location = file_uri_to_path(before.storage_location)

    built.uc_models.delete_model(ADMIN, full_name)
    with pytest.raises(RegisteredModelNotFound):
        built.uc_models.get_model(ADMIN, full_name)
    assert full_name not in {m.full_name for m in
                             built.uc_models.list_models(ADMIN, "main", "default").items}
    assert location.exists()  # the files stay while it is in the trash

    built.trash.restore(ADMIN, full_name)
    after, files_after = built.uc_models.version_files(ADMIN, full_name, number)
    assert after.root_digest == before.root_digest and files_after == files
    assert after.tags == {"vk": "vv"} and after.aliases == ("champion",)
    assert built.uc_models.get_model(ADMIN, full_name).tags == {"k": "v"}

    built.uc_models.delete_version(ADMIN, full_name, number)
    with pytest.raises(ModelVersionNotFound):
        built.uc_models.get_version(ADMIN, full_name, number)
    assert location.exists()
    [purged] = built.trash.purge(ADMIN, full_name, str(number))
    assert purged.version == number
    assert not location.exists()
    assert events(built, "model_version.purge", f"{full_name}/{number}")
    with pytest.raises(NotFound):
        built.trash.restore(ADMIN, full_name, str(number))


def test_uc_name_reuse_refuses_restore(built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    ready_version(built, full_name)
    built.uc_models.delete_model(ADMIN, full_name)
    uc_model(built, unique)  # the same name, at once
    with pytest.raises(AlreadyExists, match="the name was reused"):
        built.trash.restore(ADMIN, full_name)
    # The new model numbers from 1; the trashed one keeps its own.
    assert ready_version(built, full_name) == 1


def test_legal_holds_block_delete_and_purge(built: Modelyard, unique: str) -> None:
    _workspace_model(built, unique)
    built.trash.set_hold(ADMIN, unique, "1", "case 42")
    with pytest.raises(UnderLegalHold) as refused:
        built.registry.delete_model_version(ADMIN, unique, 1)
    message = refused.value.message
    assert "legal hold" in message and "case 42" in message
    assert f"modelyard holds release {unique}/1" in message
    with pytest.raises(UnderLegalHold):  # a model with a held version
        built.registry.delete_registered_model(ADMIN, unique)
    built.registry.delete_model_version(ADMIN, unique, 2)  # not held

    # A hold set on what is in the trash blocks its purge and the sweep.
    built.trash.set_hold(ADMIN, unique, "2", "case 43")
    with pytest.raises(UnderLegalHold, match="case 43"):
        built.trash.purge(ADMIN, unique, "2")
    built.trash.sweep(now=10**15)
    assert (unique, "2") in _trash_names(built)

    built.trash.release_hold(ADMIN, unique, "1")
    built.trash.release_hold(ADMIN, unique, "2")
    built.registry.delete_model_version(ADMIN, unique, 1)
    assert {h.name for h in built.trash.holds(ADMIN)}.isdisjoint({unique})
    assert events(built, "legal_hold.set", f"{unique}/1")
    assert events(built, "legal_hold.release", f"{unique}/1")
    assert events(built, "denied.model_version.delete", f"{unique}/1")


def test_holds_on_uc_models_follow_renames_and_block_schema_force_delete(
        built: Modelyard, unique: str) -> None:
    built.uc_catalogs.create_schema(ADMIN, "main", unique)
    built.uc_models.create_model(ADMIN, "main", unique, "m")
    built.trash.set_hold(ADMIN, f"main.{unique}.m", None, "audit")
    built.uc_models.update_model(ADMIN, f"main.{unique}.m", new_name="m2")
    with pytest.raises(UnderLegalHold):
        built.uc_models.delete_model(ADMIN, f"main.{unique}.m2")
    with pytest.raises(UnderLegalHold):
        built.uc_catalogs.delete_schema(ADMIN, f"main.{unique}", force=True)
    built.trash.release_hold(ADMIN, f"main.{unique}.m2")
    built.uc_catalogs.delete_schema(ADMIN, f"main.{unique}", force=True)


def test_only_owners_and_admins_see_restore_and_purge(
        built: Modelyard, unique: str, new_user: Callable[[str], Actor]) -> None:
    owner, other = new_user("owner"), new_user("other")
    built.registry.create_registered_model(owner, unique)
    built.registry.delete_registered_model(owner, unique)
    assert (unique, None) in _trash_names(built, owner)
    assert (unique, None) not in _trash_names(built, other)
    with pytest.raises(PermissionDenied):
        built.trash.restore(other, unique)
    with pytest.raises(PermissionDenied):
        built.trash.purge(other, unique)
    built.trash.restore(owner, unique)
    assert built.registry.get_registered_model(owner, unique).name == unique


def test_the_sweep_purges_after_the_retention_period(built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    number = ready_version(built, full_name)
    location = file_uri_to_path(
        built.uc_models.get_version(ADMIN, full_name, number).storage_location)
    built.uc_models.delete_model(ADMIN, full_name)
    [item] = [i for i in built.trash.contents(ADMIN) if i.name == full_name]
    assert item.expires_at - item.deleted_at == 30 * DAY_MS  # the default retention
    built.trash.sweep(now=item.expires_at - 1)
    assert location.exists()
    assert built.trash.sweep(now=item.expires_at) >= 1
    assert not location.exists()
    assert (full_name, None) not in _trash_names(built)
    [purge] = events(built, "registered_model.purge", full_name)
    assert purge.actor == "system" and purge.after == {"expired": True}


def test_a_restored_model_gets_its_history_back(built: Modelyard, unique: str) -> None:
    _workspace_model(built, unique)
    built.registry.set_registered_model_alias(ADMIN, unique, "champion", 1)
    built.registry.set_registered_model_alias(ADMIN, unique, "champion", 2)
    built.registry.delete_registered_model(ADMIN, unique)

    # A new model of that name meanwhile starts afresh: none of the deleted one's history.
    built.registry.create_registered_model(ADMIN, unique)
    assert built.history.entries(ADMIN, unique)[0] == []
    built.registry.set_registered_model_alias(
        ADMIN, unique, "champion", built.registry.create_model_version(ADMIN, unique,
                                                                        "s3://b/x").version)
    built.registry.delete_registered_model(ADMIN, unique)  # the newer item in the trash
    built.trash.purge(ADMIN, unique)                       # gone, and its history with it

    built.trash.restore(ADMIN, unique)
    moves = built.history.entries(ADMIN, unique, kind="alias", subject="champion")[0]
    assert [(e.value, e.previous) for e in moves] == [("2", "1"), ("1", None)]
    assert built.history.rollback(ADMIN, unique, "champion", reason="bad model") == 1
    assert built.registry.get_registered_model(ADMIN, unique).aliases[0].version == 1
