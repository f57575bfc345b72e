"""services/policies.py and services/alias_requests.py: policies refuse alias moves and stage
changes in both registries, with the policy and the failed comparison named; approvals turn a
move into a request; every step is in the audit trail."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelyard.bootstrap import Modelyard
from modelyard.domain.actor import Actor
from modelyard.domain.errors import FailedPrecondition, PermissionDenied
from modelyard.domain.policies import ApprovalRequired, PolicyViolation
from tests.services.conftest import ADMIN, events, ready_version, uc_model


def _workspace_model(built: Modelyard, name: str, versions: int = 2) -> None:
    built.registry.create_registered_model(ADMIN, name)
    for i in range(versions):
        built.registry.create_model_version(ADMIN, name, f"s3://b/{i}")


def test_alias_policy_refuses_until_the_version_is_validated(built: Modelyard,
                                                             unique: str) -> None:
    _workspace_model(built, unique)
    built.policies.create(ADMIN, f"p-{unique}", f"workspace:{unique}", "champ*", None,
                          "tags.validation = 'passed'")
    with pytest.raises(PolicyViolation) as refused:
        built.registry.set_registered_model_alias(ADMIN, unique, "champion", 1)
    assert f"Policy 'p-{unique}'" in refused.value.message
    assert "tags.validation = 'passed' (tags.validation is not set)" in refused.value.message
    assert isinstance(refused.value, FailedPrecondition)
    # Another alias, or another model, is not guarded.
    built.registry.set_registered_model_alias(ADMIN, unique, "challenger", 1)

    built.registry.set_model_version_tag(ADMIN, unique, 1, "validation", "failed")
    with pytest.raises(PolicyViolation, match=r"tags\.validation is 'failed'"):
        built.registry.set_registered_model_alias(ADMIN, unique, "champion", 1)
    built.registry.set_model_version_tag(ADMIN, unique, 1, "validation", "passed")
    built.registry.set_registered_model_alias(ADMIN, unique, "champion", 1)
    assert built.registry.get_model_version_by_alias(ADMIN, unique, "champion").version == 1
    [created] = events(built, "policy.create", f"p-{unique}")
    assert created.after["require"] == "tags.validation = 'passed'"
    assert events(built, "denied.registered_model.set_alias", unique)
    built.policies.delete(ADMIN, f"p-{unique}")
    assert events(built, "policy.delete", f"p-{unique}")


def test_uc_policy_by_schema_scope_and_attributes(built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    version = ready_version(built, full_name)
    built.policies.create(ADMIN, f"p-{unique}", full_name, "champion", None,
                          "status = 'READY' AND scan IN ('UNSAFE') AND has_signature = 'false'")
    # Its files (an MLmodel) were scanned at finalize: CLEAN (services/scanning.py).
    with pytest.raises(PolicyViolation, match=r"scan IN \('UNSAFE'\) \(scan is 'CLEAN'\)"):
        built.uc_models.set_alias(ADMIN, full_name, "champion", version)
    built.policies.delete(ADMIN, f"p-{unique}")
    built.policies.create(ADMIN, f"p-{unique}", full_name, "champion", None,
                          "signed = 'false' AND source LIKE 's3://%' AND run_id = ''")
    built.uc_models.set_alias(ADMIN, full_name, "champion", version)
    built.policies.delete(ADMIN, f"p-{unique}")


def test_stage_policy_blocks_transitions_and_approved_requests(built: Modelyard,
                                                               unique: str) -> None:
    _workspace_model(built, unique, 1)
    built.policies.create(ADMIN, f"p-{unique}", f"workspace:{unique}", None, "production",
                          "tags.validation = 'passed'")
    with pytest.raises(PolicyViolation, match=f"Policy 'p-{unique}' refuses moving"):
        built.registry.transition_model_version_stage(ADMIN, unique, 1, "Production")
    built.transitions.create_request(ADMIN, unique, 1, "Production", "please")
    with pytest.raises(PolicyViolation, match=r"tags\.validation"):
        built.transitions.approve(ADMIN, unique, 1, "Production", False, "ok")
    built.registry.transition_model_version_stage(ADMIN, unique, 1, "Staging")
    built.registry.set_model_version_tag(ADMIN, unique, 1, "validation", "passed")
    assert built.registry.transition_model_version_stage(
        ADMIN, unique, 1, "Production").current_stage == "Production"
    built.policies.delete(ADMIN, f"p-{unique}")


def test_who_manages_policies(built: Modelyard, unique: str,
                              new_user: Callable[[str], Actor]) -> None:
    stranger = new_user("stranger")
    full_name = uc_model(built, unique)
    with pytest.raises(PermissionDenied):
        built.policies.create(stranger, f"p-{unique}", "*", "x", None, "status = 'READY'")
    with pytest.raises(PermissionDenied):
        built.policies.create(stranger, f"p-{unique}", full_name, "x", None,
                              "status = 'READY'")
    built.uc_models.update_model(ADMIN, full_name, owner=stranger.name)
    built.policies.create(stranger, f"p-{unique}", full_name, "x", None, "status = 'READY'")
    built.policies.delete(stranger, f"p-{unique}")


def test_two_approvals_move_the_alias(built: Modelyard, unique: str,
                                      new_user: Callable[[str], Actor]) -> None:
    _workspace_model(built, unique)
    requester, first, second = new_user("req"), new_user("one"), new_user("two")
    for user in (requester, first, second):
        built.workspace_permissions.change(ADMIN, _object_id(built, unique),
                                           [(user.name, _level("CAN_EDIT"))], replace=False)
    built.policies.create(ADMIN, f"p-{unique}", f"workspace:{unique}", "champion", None,
                          "status = 'READY'", approvals=2)
    with pytest.raises(ApprovalRequired, match="requires 2 approval"):
        built.registry.set_registered_model_alias(requester, unique, "champion", 2)

    requests = built.alias_requests
    request = requests.create(requester, unique, "champion", 2, "better AUC")
    with pytest.raises(PermissionDenied, match="cannot approve"):
        requests.approve(requester, unique, "champion", request.id)
    assert requests.approve(first, unique, "champion", request.id).state == "OPEN"
    with pytest.raises(FailedPrecondition, match="already approved"):
        requests.approve(first, unique, "champion", request.id)
    with pytest.raises(ApprovalRequired):
        built.registry.set_registered_model_alias(ADMIN, unique, "champion", 2)
    done = requests.approve(second, unique, "champion", request.id, "lgtm")
    assert done.state == "APPROVED" and done.approvers == [first.name, second.name]
    assert built.registry.get_model_version_by_alias(ADMIN, unique, "champion").version == 2

    # A rejected request leaves the alias where it was.
    rejected = requests.create(requester, unique, "champion", 1, "roll back")
    assert requests.reject(first, unique, "champion", rejected.id, "no").state == "REJECTED"
    assert built.registry.get_model_version_by_alias(ADMIN, unique, "champion").version == 2
    with pytest.raises(FailedPrecondition, match="REJECTED"):
        requests.approve(second, unique, "champion", rejected.id)
    cancelled = requests.create(requester, unique, "champion", 1, "")
    with pytest.raises(PermissionDenied):
        requests.cancel(first, unique, "champion", cancelled.id)
    assert requests.cancel(requester, unique, "champion", cancelled.id).state == "CANCELLED"

    for action in ("alias_request.create", "alias_request.approve", "alias_request.reject",
                   "alias_request.cancel"):
        assert any(e.actor in (requester.name, first.name, second.name)
                   for e in events(built, action, f"{unique}/2") + events(built, action,
                                                                          f"{unique}/1"))
    [move] = [e for e in events(built, "registered_model.set_alias", unique)]
    assert move.actor == second.name and move.after == {"alias": "champion", "version": 2}
    built.policies.delete(ADMIN, f"p-{unique}")


def _object_id(built: Modelyard, name: str) -> str:
    return str(built.transitions.get_model_with_level(ADMIN, name)[1])


def _level(name: str) -> object:
    from modelyard.domain.access import Level

    return Level[name]


def test_a_three_part_workspace_name_is_requested_in_the_workspace(built: Modelyard,
                                                                   unique: str) -> None:
    name = f"team.fraud.{unique}"
    _workspace_model(built, name, 1)
    built.policies.create(ADMIN, f"p-{unique}", f"workspace:{name}", "champion", None,
                          "status = 'READY'", approvals=1)
    request = built.alias_requests.create(ADMIN, name, "champion", 1, "")
    assert (request.registry, request.model_name) == ("workspace", name)
    built.policies.delete(ADMIN, f"p-{unique}")
