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
