"""domain/policies.py: validation, scope and guard matching, conditions over a version."""

from __future__ import annotations

import pytest

from modelyard.domain.errors import InvalidArgument
from modelyard.domain.policies import (
    Policy,
    VersionFacts,
    applying,
    failed_comparison,
    in_scope,
    validate,
)

FACTS = VersionFacts(status="READY", run_id="r1", source="s3://b/m", tags={"validation": "ok"})


@pytest.mark.parametrize(("scope", "namespace", "name", "covered"), [
    ("*", "uc", "a.b.c", True), ("*", "workspace", "m", True),
    ("workspace", "workspace", "m", True), ("workspace", "uc", "a.b.c", False),
    ("workspace:m", "workspace", "m", True), ("workspace:m", "workspace", "m2", False),
    ("a", "uc", "a.b.c", True), ("a.b", "uc", "a.b.c", True), ("a.b.c", "uc", "a.b.c", True),
    ("a.b", "uc", "a.bb.c", False), ("ab", "uc", "a.b.c", False), ("a", "workspace", "a", False),
])
def test_scope(scope: str, namespace: str, name: str, covered: bool) -> None:
    assert in_scope(scope, namespace, name) is covered


def test_guards_by_alias_glob_and_stage() -> None:
    prod = Policy("p", "*", "status = 'READY'", alias="prod-*")
    stage = Policy("s", "workspace", "status = 'READY'", stage="Production")
    assert applying([prod, stage], "uc", "a.b.c", alias="prod-eu") == [prod]
    assert applying([prod, stage], "uc", "a.b.c", alias="champion") == []
    assert applying([prod, stage], "workspace", "m", stage="Production") == [stage]
    assert applying([prod, stage], "workspace", "m", stage="Staging") == []


@pytest.mark.parametrize(("condition", "failed"), [
    ("tags.validation = 'ok'", None),
    ("tags.validation = 'passed'", "tags.validation = 'passed' (tags.validation is 'ok')"),
    ("tags.other = 'x'", "tags.other = 'x' (tags.other is not set)"),
    ("status = 'READY' AND run_id IN ('r1', 'r2')", None),
    ("source LIKE 's3://%'", None), ("source ILIKE 'S3://B/_'", None),
    ("scan = 'CLEAN'", "scan = 'CLEAN' (scan is 'NOT_SCANNED')"),
    ("signed != 'true' AND has_signature = 'false'", None),
    ("run_id NOT IN ('r1')", "run_id NOT IN ('r1') (run_id is 'r1')"),
])
def test_conditions(condition: str, failed: str | None) -> None:
    assert failed_comparison(condition, FACTS) == failed


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "bad name"}, "Invalid policy name"),
    ({"scope": "a.b.c.d"}, "Invalid scope"),
    ({"alias": None}, "exactly one of"),
    ({"stage": "Production"}, "exactly one of"),
    ({"require": "name = 'x'"}, "Invalid attribute key 'name'"),
    ({"require": "tags.x = "}, "ends too early"),
    ({"approvals": -1}, "Invalid 'approvals'"),
    ({"alias": None, "stage": "Production", "scope": "main"}, "Stages exist only"),
    ({"alias": None, "stage": "Production", "scope": "workspace", "approvals": 2},
     "transition requests"),
])
def test_validation(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"name": "p", "scope": "*", "alias": "champion", "stage": None,
                                 "require": "status = 'READY'", "approvals": 0, **fields}
    with pytest.raises(InvalidArgument, match=message):
        validate(**values)  # type: ignore[arg-type]


def test_an_alias_request_comment_fires_comment_created() -> None:
    from modelyard.domain.webhooks import TRIGGERING_ACTIONS, WebhookEvent, occurrences

    assert "alias_request.comment" in TRIGGERING_ACTIONS
    [fired] = occurrences("alias_request.comment", "fraud/3",
                          None, {"id": "7", "alias": "champion", "comment": "looks good"}, "ann")
    assert fired.event is WebhookEvent.COMMENT_CREATED
    assert fired.fields["comment"] == "looks good" and fired.fields["version"] == "3"
    assert "request 7 to move alias 'champion'" in fired.fields["text"]
