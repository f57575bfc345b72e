"""databricks-sdk flows: users and groups, tokens, permissions, transition requests."""

from __future__ import annotations

import uuid

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service import iam, ml

from tests.api.identity.conftest import AuthServer

PATCH_SCHEMA = [iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP]


def _model_with_version(auth_server: AuthServer, owner_token: str) -> str:
    name = f"sdk-{uuid.uuid4().hex[:10]}"
    w = auth_server.sdk(owner_token)
    w.model_registry.create_model(name)
    w.model_registry.create_model_version(name, source="s3://bucket/model")
    return name


def test_user_group_membership_gives_access(auth_server: AuthServer) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    owner = auth_server.new_user("owner")
    user_name = f"alice-{uuid.uuid4().hex[:8]}@example.com"
    user = admin.users.create(user_name=user_name, display_name="Alice")
    group = admin.groups.create(display_name=f"readers-{uuid.uuid4().hex[:8]}")
    outer = admin.groups.create(display_name=f"everyone-{uuid.uuid4().hex[:8]}")
    assert user.id and group.id and outer.id
    # Nested: the user is in `group`, which is in `outer`; the level goes to `outer`.
    admin.groups.patch(group.id, operations=[iam.Patch(
        op=iam.PatchOp.ADD, path="members", value=[{"value": user.id}])], schemas=PATCH_SCHEMA)
    admin.groups.patch(outer.id, operations=[iam.Patch(
        op=iam.PatchOp.ADD, path="members", value=[{"value": group.id}])], schemas=PATCH_SCHEMA)
    assert [m.display for m in admin.groups.get(outer.id).members or []] == [group.display_name]
    assert [u.user_name for u in admin.users.list(filter=f'userName eq "{user_name}"')] == [
        user_name]
    token = admin.token_management.create_obo_token(application_id=user_name).token_value
    assert token
    w = auth_server.sdk(token)
    assert w.current_user.me().user_name == user_name

    name = _model_with_version(auth_server, owner.token)
    with pytest.raises(NotFound):
        w.model_registry.get_model(name)
    model_id = auth_server.sdk(owner.token).model_registry.get_model(
        name).registered_model_databricks.id
    auth_server.sdk(owner.token).model_registry.update_permissions(
        model_id, access_control_list=[ml.RegisteredModelAccessControlRequest(
            group_name=outer.display_name,
            permission_level=ml.RegisteredModelPermissionLevel.CAN_READ)])
    seen = w.model_registry.get_model(name).registered_model_databricks
    assert seen.permission_level == ml.PermissionLevel.CAN_READ
    with pytest.raises(PermissionDenied):
        w.model_registry.update_model(name, description="not allowed")


def test_tokens_create_list_delete(auth_server: AuthServer) -> None:
    user = auth_server.new_user()
    w = auth_server.sdk(user.token)
    created = w.tokens.create(comment="ci", lifetime_seconds=3600)
    assert created.token_value and created.token_value not in repr(list(w.tokens.list()))
    info = created.token_info
    assert info is not None and info.comment == "ci" and info.expiry_time > info.creation_time
    assert info.token_id in [t.token_id for t in w.tokens.list()]
    assert auth_server.sdk(created.token_value).current_user.me().user_name == user.name
    w.tokens.delete(info.token_id)
    assert info.token_id not in [t.token_id for t in w.tokens.list()]


def test_permissions_set_and_get(auth_server: AuthServer) -> None:
    owner = auth_server.new_user("owner")
    reader = auth_server.new_user("reader")
    name = _model_with_version(auth_server, owner.token)
    w = auth_server.sdk(owner.token)
    model = w.model_registry.get_model(name).registered_model_databricks
    assert model.permission_level == ml.PermissionLevel.CAN_MANAGE
    w.model_registry.set_permissions(model.id, access_control_list=[
        ml.RegisteredModelAccessControlRequest(
            user_name=reader.name, permission_level=ml.RegisteredModelPermissionLevel.CAN_EDIT)])
    acl = w.model_registry.get_permissions(model.id)
    assert acl.object_id == f"/registered-models/{model.id}"
    levels = {(e.user_name, p.permission_level) for e in acl.access_control_list or []
              for p in e.all_permissions or []}
    assert (reader.name, ml.RegisteredModelPermissionLevel.CAN_EDIT) in levels
    assert (owner.name, ml.RegisteredModelPermissionLevel.CAN_MANAGE) in levels
    described = w.model_registry.get_permission_levels(model.id).permission_levels or []
    assert [d.permission_level.value for d in described if d.permission_level] == [
        "CAN_READ", "CAN_EDIT", "CAN_MANAGE_STAGING_VERSIONS", "CAN_MANAGE_PRODUCTION_VERSIONS",
        "CAN_MANAGE"]
    # The reader cannot change permissions.
    with pytest.raises(PermissionDenied):
        auth_server.sdk(reader.token).model_registry.set_permissions(model.id)


def test_transition_request_approved_by_production_manager(auth_server: AuthServer) -> None:
    owner = auth_server.new_user("owner")
    requester = auth_server.new_user("requester")
    editor = auth_server.new_user("editor")
    releaser = auth_server.new_user("releaser")
    name = _model_with_version(auth_server, owner.token)
    auth_server.set_level(name, requester.name, "CAN_READ")
    auth_server.set_level(name, editor.name, "CAN_EDIT")
    auth_server.set_level(name, releaser.name, "CAN_MANAGE_PRODUCTION_VERSIONS")

    request = auth_server.sdk(requester.token).model_registry.create_transition_request(
        name, "1", "Production", comment="ready for prod")
    assert request.request and request.request.to_stage == "Production"
    with pytest.raises(PermissionDenied):
        auth_server.sdk(editor.token).model_registry.approve_transition_request(
            name, "1", "Production", archive_existing_versions=True)
    open_requests = auth_server.sdk(releaser.token).model_registry.list_transition_requests(
        name, "1")
    assert [r.user_id for r in open_requests] == [requester.name]
    with auth_server.client(releaser.token) as client:
        raw = client.get("/api/2.0/mlflow/transition-requests/list",
                         params={"name": name, "version": "1"}).json()["requests"]
    assert "APPROVE_TRANSITION_REQUEST" in raw[0]["available_actions"]
    approved = auth_server.sdk(releaser.token).model_registry.approve_transition_request(
        name, "1", "Production", archive_existing_versions=True, comment="shipping")
    assert approved.activity and approved.activity.activity_type == \
        ml.ActivityType.APPROVED_REQUEST
    version = auth_server.sdk(owner.token).model_registry.get_model_version(name, "1")
    assert version.model_version and version.model_version.current_stage == "Production"
    assert auth_server.sdk(owner.token).model_registry.list_transition_requests(name, "1") == []


def test_staging_manager_cannot_touch_production(auth_server: AuthServer) -> None:
    owner = auth_server.new_user("owner")
    stager = auth_server.new_user("stager")
    name = _model_with_version(auth_server, owner.token)
    auth_server.set_level(name, stager.name, "CAN_MANAGE_STAGING_VERSIONS")
    w = auth_server.sdk(stager.token)
    w.model_registry.transition_stage(name, "1", "Staging", archive_existing_versions=False,
                                      comment="to staging")
    with pytest.raises(PermissionDenied):
        w.model_registry.transition_stage(name, "1", "Production",
                                          archive_existing_versions=False)
    auth_server.sdk(owner.token).model_registry.transition_stage(
        name, "1", "Production", archive_existing_versions=False)
    with pytest.raises(PermissionDenied):  # out of Production needs the production level too
        w.model_registry.transition_stage(name, "1", "Archived", archive_existing_versions=False)


def test_reject_cancel_comments_and_activities(auth_server: AuthServer) -> None:
    owner = auth_server.new_user("owner")
    reader = auth_server.new_user("reader")
    name = _model_with_version(auth_server, owner.token)
    auth_server.set_level(name, reader.name, "CAN_READ")
    mine = auth_server.sdk(reader.token).model_registry
    theirs = auth_server.sdk(owner.token).model_registry
    mine.create_transition_request(name, "1", "Staging", comment="staging please")
    theirs.reject_transition_request(name, "1", "Staging", comment="not yet")
    mine.create_transition_request(name, "1", "Production")
    mine.delete_transition_request(name, "1", "Production", reader.name, comment="never mind")
    comment = mine.create_comment(name, "1", "first").comment
    assert comment and comment.id
    mine.update_comment(comment.id, "edited")
    with pytest.raises(PermissionDenied):
        theirs.update_comment(comment.id, "not yours")
    theirs.transition_stage(name, "1", "Staging", archive_existing_versions=False,
                            comment="applied")
    with auth_server.client(reader.token) as client:
        activities = client.get("/api/2.0/mlflow/activities/list",
                                params={"name": name, "version": "1"}).json()["activities"]
    kinds = [a["activity_type"] for a in activities]
    assert kinds == ["REQUESTED_TRANSITION", "REJECTED_REQUEST", "REQUESTED_TRANSITION",
                     "CANCELLED_REQUEST", "NEW_COMMENT", "APPLIED_TRANSITION"]
    assert activities[4]["comment"] == "edited"
    mine.delete_comment(comment.id)
    with auth_server.client(reader.token) as client:
        again = client.get("/api/2.0/mlflow/activities/list",
                           params={"name": name, "version": "1"}).json()["activities"]
    assert "NEW_COMMENT" not in [a["activity_type"] for a in again]


def test_archive_existing_records_system_transition(auth_server: AuthServer) -> None:
    owner = auth_server.new_user("owner")
    name = _model_with_version(auth_server, owner.token)
    w = auth_server.sdk(owner.token).model_registry
    w.create_model_version(name, source="s3://bucket/v2")
    w.transition_stage(name, "1", "Production", archive_existing_versions=False)
    w.transition_stage(name, "2", "Production", archive_existing_versions=True, comment="v2")
    with auth_server.client(owner.token) as client:
        first = client.get("/api/2.0/mlflow/activities/list",
                           params={"name": name, "version": "1"}).json()["activities"]
    assert [a["activity_type"] for a in first] == ["APPLIED_TRANSITION", "SYSTEM_TRANSITION"]
    assert first[1]["to_stage"] == "Archived"


def test_service_principal_with_token(auth_server: AuthServer) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    sp = admin.service_principals.create(display_name="deployer")
    assert sp.application_id and sp.id
    assert sp.application_id in [s.application_id for s in admin.service_principals.list()]
    token = admin.token_management.create_obo_token(application_id=sp.application_id,
                                                    comment="ci").token_value
    assert token
    auth_server.secrets.append(token)
    me = auth_server.sdk(token).current_user.me()
    assert me.user_name is None or me.user_name == sp.application_id
    owner = auth_server.new_user("owner")
    name = _model_with_version(auth_server, owner.token)
    auth_server.set_level(name, owner.name, "CAN_MANAGE")
    with auth_server.admin() as client:
        model_id = client.get("/api/2.0/mlflow/databricks/registered-models/get",
                              params={"name": name}).json()["registered_model_databricks"]["id"]
        response = client.patch(f"/api/2.0/permissions/registered-models/{model_id}", json={
            "access_control_list": [{"service_principal_name": sp.application_id,
                                     "permission_level": "CAN_MANAGE_PRODUCTION_VERSIONS"}]})
        assert response.status_code == 200, response.text
    auth_server.sdk(token).model_registry.transition_stage(
        name, "1", "Production", archive_existing_versions=False)
    admin.service_principals.delete(sp.id)
    with auth_server.client(token) as client:
        assert client.get("/api/2.0/preview/scim/v2/Me").status_code == 401
