"""domain/history.py: which history entries a recorded change makes."""

from __future__ import annotations

from modelyard.domain.changes import Event
from modelyard.domain.history import DESCRIPTION, TAG, VERSION, changes_of


def _entries(event: Event) -> list[tuple[str, str, int | None, str | None, str | None, bool]]:
    return [(c.kind, c.subject, c.version, c.value, c.previous, c.previous_known)
            for c in changes_of(event)]


def test_a_version_created_with_tags_and_a_description_starts_with_them() -> None:
    event = Event("model_version.create", "model_version", "fraud/3",
                  after={"source": "s3://b/x", "description": "trained on May",
                         "tags": {"validated": "true", "data": "v2"}})
    assert _entries(event) == [
        (VERSION, "", 3, "3", None, True),
        (DESCRIPTION, "", 3, "trained on May", None, True),
        (TAG, "data", 3, "v2", None, True),
        (TAG, "validated", 3, "true", None, True),
    ]


def test_a_model_created_with_a_comment_and_tags_starts_with_them() -> None:
    event = Event("registered_model.create", "registered_model", "main.risk.fraud",
                  after={"comment": "scores payments", "tags": {"team": "risk"}}, registry="uc")
    assert _entries(event) == [
        (DESCRIPTION, "", None, "scores payments", None, True),
        (TAG, "team", None, "risk", None, True),
    ]
    assert {c.registry for c in changes_of(event)} == {"uc"}


def test_creation_without_tags_or_description_makes_no_such_entries() -> None:
    bare_model = Event("registered_model.create", "registered_model", "fraud",
                       after={"description": "", "tags": {}})
    bare_version = Event("model_version.create", "model_version", "fraud/1",
                         after={"source": "s3://b/x", "description": None, "tags": {}})
    assert _entries(bare_model) == []
    assert _entries(bare_version) == [(VERSION, "", 1, "1", None, True)]
