"""services/history.py: what each change records as the value before it, where the event did
not say (tags, descriptions): the subject's latest entry, read by the history row's INSERT."""

from __future__ import annotations

from modelyard.bootstrap import Modelyard
from tests.services.conftest import ADMIN


def _values(built: Modelyard, name: str, kind: str, subject: str,
            version: int | None = None) -> list[tuple[str | None, str | None]]:
    found, _ = built.history.entries(ADMIN, name, kind=kind, subject=subject, version=version)
    return [(entry.value, entry.previous) for entry in found]  # newest first


def test_a_tag_change_records_the_value_before_it(built: Modelyard, unique: str) -> None:
    built.registry.create_registered_model(ADMIN, unique)
    built.registry.set_registered_model_tag(ADMIN, unique, "team", "a")
    built.registry.set_registered_model_tag(ADMIN, unique, "team", "b")
    built.registry.set_registered_model_tag(ADMIN, unique, "team", "c")
    built.registry.set_registered_model_tag(ADMIN, unique, "other", "x")  # another subject
    assert _values(built, unique, "tag", "team") == [("c", "b"), ("b", "a"), ("a", None)]
    assert _values(built, unique, "tag", "other") == [("x", None)]


def test_a_version_tag_change_records_that_versions_value_only(
        built: Modelyard, unique: str) -> None:
    built.registry.create_registered_model(ADMIN, unique)
    one = built.registry.create_model_version(ADMIN, unique, "s3://b/1")
    two = built.registry.create_model_version(ADMIN, unique, "s3://b/2")
    built.registry.set_model_version_tag(ADMIN, unique, one.version, "ok", "no")
    built.registry.set_model_version_tag(ADMIN, unique, one.version, "ok", "yes")
    built.registry.set_model_version_tag(ADMIN, unique, two.version, "ok", "maybe")
    assert _values(built, unique, "tag", "ok", version=int(one.version)) == [
        ("yes", "no"), ("no", None)]
    assert _values(built, unique, "tag", "ok", version=int(two.version)) == [("maybe", None)]


def test_what_a_model_and_its_version_are_created_with_starts_their_history(
        built: Modelyard, unique: str) -> None:
    built.registry.create_registered_model(ADMIN, unique, tags={"team": "a", "tier": "1"},
                                           description="first")
    made = built.registry.create_model_version(ADMIN, unique, "s3://b/1",
                                               tags={"validated": "no"}, description="v one")
    number = int(made.version)
    built.registry.set_registered_model_tag(ADMIN, unique, "team", "b")
    built.registry.set_model_version_tag(ADMIN, unique, number, "validated", "yes")
    built.registry.update_model_version(ADMIN, unique, number, "v two")

    # Created with: the first entries, with nothing before them; the next change knows them.
    assert _values(built, unique, "tag", "team") == [("b", "a"), ("a", None)]
    assert _values(built, unique, "tag", "tier") == [("1", None)]
    assert _values(built, unique, "tag", "validated", version=number) == [
        ("yes", "no"), ("no", None)]
    assert _values(built, unique, "description", "", version=number) == [
        ("v two", "v one"), ("v one", None)]
    model_descriptions = [entry for entry in built.history.entries(
        ADMIN, unique, kind="description")[0] if entry.version is None]
    assert [(e.value, e.previous, e.action) for e in model_descriptions] == [
        ("first", None, "registered_model.create")]


def test_a_model_created_bare_has_no_tag_or_description_entries(
        built: Modelyard, unique: str) -> None:
    built.registry.create_registered_model(ADMIN, unique)
    built.registry.create_model_version(ADMIN, unique, "s3://b/1")
    found, _ = built.history.entries(ADMIN, unique)
    assert [(entry.kind, entry.value) for entry in found] == [("version", "1")]


def test_a_unity_catalog_model_created_with_tags_and_a_comment_starts_its_history(
        built: Modelyard, unique: str) -> None:
    full_name = f"main.default.{unique}"
    built.uc_models.create_model(ADMIN, "main", "default", unique, comment="why",
                                 tags={"team": "risk"})
    assert _values(built, full_name, "tag", "team") == [("risk", None)]
    assert _values(built, full_name, "description", "") == [("why", None)]
