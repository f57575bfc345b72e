"""Registry webhooks through databricks-sdk's `model_registry`, delivered to a real receiver:
the right events, signed with the secret, with the Authorization header; secrets never read
back; TEST_MODE only through test; a dead receiver never fails the change; who may create."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    BadRequest,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
)
from databricks.sdk.service import ml
from mlflow.tracking import MlflowClient

from tests.api.identity.conftest import AuthServer
from tests.conftest import database_url_for
from tests.support.receiver import Received, Receiver
from tests.support.server import ServerProcess, free_port

Event = ml.RegistryWebhookEvent
Status = ml.RegistryWebhookStatus
HOOKS = "/api/2.0/mlflow/registry-webhooks"


def _signed_by(received: Received, secret: str) -> bool:
    expected = hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers.get("X-Databricks-Signature", ""), expected)


def _model(auth_server: AuthServer, token: str) -> str:
    name = f"hook-{uuid.uuid4().hex[:10]}"
    auth_server.sdk(token).model_registry.create_model(name)
    return name


def _mlflow(auth_server: AuthServer, token: str, monkeypatch: pytest.MonkeyPatch
            ) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    return MlflowClient(tracking_uri=auth_server.url, registry_uri=auth_server.url)


def _raw_list(auth_server: AuthServer, **params: Any) -> dict[str, Any]:
    with auth_server.admin() as admin:
        response = admin.get(f"{HOOKS}/list", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_events_reach_the_receiver_signed(auth_server: AuthServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    name = _model(auth_server, auth_server.admin_token)
    with Receiver() as receiver:
        wide = admin.model_registry.create_webhook(
            [Event.MODEL_VERSION_CREATED], description="every new version",
            http_url_spec=ml.HttpUrlSpec(url=receiver.url, secret="wide-secret",
                                         authorization="Bearer wide-token")).webhook
        model_hook = admin.model_registry.create_webhook(
            [Event.MODEL_VERSION_TRANSITIONED_TO_PRODUCTION], model_name=name,
            http_url_spec=ml.HttpUrlSpec(url=receiver.url, secret="model-secret")).webhook
        assert wide and wide.id and model_hook and model_hook.id
        assert wide.status == Status.ACTIVE and model_hook.model_name == name
        try:
            client = _mlflow(auth_server, auth_server.admin_token, monkeypatch)
            version = client.create_model_version(name, source="s3://bucket/model")
            client.transition_model_version_stage(name, version.version, "Staging")
            client.transition_model_version_stage(name, version.version, "Production")
            received = receiver.wait_for(name, 2)
        finally:
            admin.model_registry.delete_webhook(wide.id)

        by_event = {r.json["event"]: r for r in received}
        assert sorted(by_event) == ["MODEL_VERSION_CREATED",
                                    "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION"]
        assert len(received) == 2  # the Staging move and the general events fire nothing
        created = by_event["MODEL_VERSION_CREATED"]
        assert created.json["webhook_id"] == wide.id and created.json["version"] == "1"
        assert created.json["event_timestamp"] > 0 and name in created.json["text"]
        assert _signed_by(created, "wide-secret")
        assert created.headers.get("Authorization") == "Bearer wide-token"
        moved = by_event["MODEL_VERSION_TRANSITIONED_TO_PRODUCTION"]
        assert moved.json["webhook_id"] == model_hook.id
        assert (moved.json["from_stage"], moved.json["to_stage"]) == ("Staging", "Production")
        assert _signed_by(moved, "model-secret") and "Authorization" not in moved.headers
        assert not _signed_by(moved, "wide-secret")
        # Nothing else arrived about this model meanwhile.
        assert len(receiver.about(name)) == 2
        admin.model_registry.delete_webhook(model_hook.id)


def test_versions_archived_by_a_move_fire_their_own_event(
        auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """archive_existing_versions archives the model's other Production versions: each one is
    announced as MODEL_VERSION_TRANSITIONED_TO_ARCHIVED, and audited as its own change."""
    admin = auth_server.sdk(auth_server.admin_token)
    name = _model(auth_server, auth_server.admin_token)
    client = _mlflow(auth_server, auth_server.admin_token, monkeypatch)
    for _ in range(3):
        client.create_model_version(name, source="s3://bucket/model")
    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "2", "Production")
    with Receiver() as receiver:
        hook = admin.model_registry.create_webhook(
            [Event.MODEL_VERSION_TRANSITIONED_TO_ARCHIVED], model_name=name,
            http_url_spec=ml.HttpUrlSpec(url=receiver.url, secret="s")).webhook
        assert hook and hook.id
        try:
            client.transition_model_version_stage(name, "3", "Production",
                                                  archive_existing_versions=True)
            received = receiver.wait_for(name, 2)
        finally:
            admin.model_registry.delete_webhook(hook.id)
    archived = sorted((r.json["version"], r.json["from_stage"], r.json["to_stage"])
                      for r in received)
    assert archived == [("1", "Production", "Archived"), ("2", "Production", "Archived")]
    with auth_server.admin() as http:
        events = http.get("/api/modelyard/v1/audit", params={
            "object_name": f"{name}/1", "max_results": 100}).json()["events"]
    assert [e["action"] for e in events][-1] == "model_version.transition_stage"
    assert events[-1]["after"]["stage"] == "Archived"


def test_list_update_delete_never_show_secrets(auth_server: AuthServer) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    name = _model(auth_server, auth_server.admin_token)
    spec = ml.HttpUrlSpec(url="https://hooks.example.com/x", secret="s3cr3t-value",
                          authorization="Bearer auth-value", enable_ssl_verification=False)
    created = admin.model_registry.create_webhook(
        [Event.COMMENT_CREATED], model_name=name, http_url_spec=spec).webhook
    assert created and created.id and created.http_url_spec
    assert created.http_url_spec.url == spec.url
    assert created.http_url_spec.enable_ssl_verification is False

    listed = list(admin.model_registry.list_webhooks(model_name=name))
    assert [w.id for w in listed] == [created.id]
    raw = _raw_list(auth_server, model_name=name)
    assert "s3cr3t-value" not in str(raw) and "auth-value" not in str(raw)
    assert "secret" not in raw["webhooks"][0]["http_url_spec"]
    assert [w.id for w in admin.model_registry.list_webhooks(
        model_name=name, events=[Event.MODEL_VERSION_CREATED])] == []

    updated = admin.model_registry.update_webhook(
        created.id, description="now disabled", status=Status.DISABLED,
        events=[Event.COMMENT_CREATED, Event.MODEL_VERSION_TAG_SET]).webhook
    assert updated and updated.status == Status.DISABLED
    assert updated.description == "now disabled"
    assert updated.events == [Event.COMMENT_CREATED, Event.MODEL_VERSION_TAG_SET]
    assert [w.status for w in admin.model_registry.list_webhooks(model_name=name)] == [
        Status.DISABLED]

    admin.model_registry.delete_webhook(created.id)
    assert list(admin.model_registry.list_webhooks(model_name=name)) == []


def test_test_mode_fires_only_through_test(auth_server: AuthServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    name = _model(auth_server, auth_server.admin_token)
    with Receiver(status=202, reply="accepted by receiver") as receiver:
        hook = admin.model_registry.create_webhook(
            [Event.MODEL_VERSION_CREATED], model_name=name, status=Status.TEST_MODE,
            http_url_spec=ml.HttpUrlSpec(url=receiver.url, secret="test-secret")).webhook
        assert hook and hook.id and hook.status == Status.TEST_MODE
        _mlflow(auth_server, auth_server.admin_token, monkeypatch).create_model_version(
            name, source="s3://bucket/model")

        answer = admin.model_registry.test_registry_webhook(hook.id)
        assert (answer.status_code, answer.body) == (202, "accepted by receiver")
        received = receiver.about(name)
        assert [r.json["event"] for r in received] == ["MODEL_VERSION_CREATED"]
        assert received[0].json["webhook_id"] == hook.id and "test" in received[0].json["text"]
        assert _signed_by(received[0], "test-secret")

        chosen = admin.model_registry.test_registry_webhook(
            hook.id, event=Event.COMMENT_CREATED)
        assert chosen.status_code == 202
        assert receiver.about(name)[-1].json["event"] == "COMMENT_CREATED"

        # Clients cannot read the secret back: resending the same URL without it keeps it.
        admin.model_registry.update_webhook(hook.id, http_url_spec=ml.HttpUrlSpec(
            url=receiver.url))
        admin.model_registry.test_registry_webhook(hook.id)
        assert _signed_by(receiver.about(name)[-1], "test-secret")
        admin.model_registry.delete_webhook(hook.id)


def test_receiver_down_fails_nothing_and_is_reported(auth_server: AuthServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    name = _model(auth_server, auth_server.admin_token)
    down = f"http://127.0.0.1:{free_port()}/nobody-listens"
    hook = admin.model_registry.create_webhook(
        [Event.MODEL_VERSION_CREATED], model_name=name,
        http_url_spec=ml.HttpUrlSpec(url=down, secret="x")).webhook
    assert hook and hook.id
    client = _mlflow(auth_server, auth_server.admin_token, monkeypatch)
    assert client.create_model_version(name, source="s3://bucket/model").version == "1"
    assert client.create_model_version(name, source="s3://bucket/model").version == "2"

    # The failure is kept on the webhook, where the user can see it (retries take a moment).
    deadline = time.monotonic() + 30
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline and "last_delivery_error" not in shown:
        shown = _raw_list(auth_server, model_name=name)["webhooks"][0]
        time.sleep(0.2)
    assert "Connection" in shown.get("last_delivery_error", ""), shown
    assert "last_delivery_status_code" not in shown

    with pytest.raises(BadRequest, match="did not answer"):
        admin.model_registry.test_registry_webhook(hook.id)
    admin.model_registry.delete_webhook(hook.id)


def test_who_may_create_webhooks(auth_server: AuthServer) -> None:
    owner = auth_server.new_user("owner")
    reader = auth_server.new_user("reader")
    name = _model(auth_server, owner.token)
    auth_server.set_level(name, reader.name, "CAN_READ")
    spec = ml.HttpUrlSpec(url="https://hooks.example.com/x")

    with pytest.raises(PermissionDenied):
        auth_server.sdk(reader.token).model_registry.create_webhook(
            [Event.MODEL_VERSION_CREATED], model_name=name, http_url_spec=spec)
    with pytest.raises(PermissionDenied):  # registry-wide: metastore admins only
        auth_server.sdk(owner.token).model_registry.create_webhook(
            [Event.MODEL_VERSION_CREATED], http_url_spec=spec)

    mine = auth_server.sdk(owner.token).model_registry.create_webhook(
        [Event.MODEL_VERSION_CREATED], model_name=name, http_url_spec=spec).webhook
    assert mine and mine.id
    assert [w.id for w in auth_server.sdk(owner.token).model_registry.list_webhooks()] == [
        mine.id]
    assert list(auth_server.sdk(reader.token).model_registry.list_webhooks()) == []
    with pytest.raises(PermissionDenied):
        auth_server.sdk(reader.token).model_registry.delete_webhook(mine.id)

    with pytest.raises(InvalidParameterValue, match="jobs service"):
        auth_server.sdk(owner.token).model_registry.create_webhook(
            [Event.MODEL_VERSION_CREATED], model_name=name,
            job_spec=ml.JobSpec(job_id="1", access_token="t"))
    with pytest.raises(NotFound):
        auth_server.sdk(auth_server.admin_token).model_registry.create_webhook(
            [Event.MODEL_VERSION_CREATED], model_name=f"{name}-missing", http_url_spec=spec)
    with pytest.raises(InvalidParameterValue, match="registry-wide"):
        auth_server.sdk(owner.token).model_registry.create_webhook(
            [Event.REGISTERED_MODEL_CREATED], model_name=name, http_url_spec=spec)
    auth_server.sdk(owner.token).model_registry.delete_webhook(mine.id)


def test_webhook_changes_are_audited_without_secrets(auth_server: AuthServer) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    name = _model(auth_server, auth_server.admin_token)
    with Receiver() as receiver:
        hook = admin.model_registry.create_webhook(
            [Event.MODEL_VERSION_CREATED], model_name=name,
            http_url_spec=ml.HttpUrlSpec(url=receiver.url, secret="audit-secret",
                                         authorization="Bearer audit-token")).webhook
        assert hook and hook.id
        admin.model_registry.update_webhook(hook.id, description="d")
        admin.model_registry.test_registry_webhook(hook.id)
        admin.model_registry.delete_webhook(hook.id)
    with auth_server.admin() as client:
        response = client.get("/api/modelyard/v1/audit",
                              params={"object": name, "max_results": 1000})
    assert response.status_code == 200, response.text
    actions = [e["action"] for e in response.json()["events"]
               if e["action"].startswith("registry_webhook.")]
    assert actions == ["registry_webhook.create", "registry_webhook.update",
                       "registry_webhook.test", "registry_webhook.delete"]
    assert "audit-secret" not in response.text and "audit-token" not in response.text


def test_webhooks_follow_model_rename_and_delete(auth_server: AuthServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    admin = auth_server.sdk(auth_server.admin_token)
    name = _model(auth_server, auth_server.admin_token)
    hook = admin.model_registry.create_webhook(
        [Event.COMMENT_CREATED], model_name=name,
        http_url_spec=ml.HttpUrlSpec(url="https://hooks.example.com/x")).webhook
    assert hook and hook.id
    client = _mlflow(auth_server, auth_server.admin_token, monkeypatch)
    client.rename_registered_model(name, f"{name}-renamed")
    assert [w.id for w in admin.model_registry.list_webhooks(
        model_name=f"{name}-renamed")] == [hook.id]
    client.delete_registered_model(f"{name}-renamed")
    assert hook.id not in [w.id for w in admin.model_registry.list_webhooks()]


def test_deliveries_survive_a_crash(engine: str, pg_available: bool,
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    """An event whose receiver is down stays in the outbox: the server is killed (SIGKILL),
    the receiver comes up, a new server on the same database delivers it, once."""
    data_dir = tmp_path_factory.mktemp(f"outbox-{engine}")
    port = free_port()
    for database_url in database_url_for(engine, pg_available):
        first = ServerProcess(data_dir, database_url).start()
        try:
            sdk = WorkspaceClient(host=first.url, token="unused")
            name = f"outbox-{uuid.uuid4().hex[:8]}"
            sdk.model_registry.create_model(name)
            sdk.model_registry.create_webhook(
                [Event.MODEL_VERSION_CREATED], model_name=name,
                http_url_spec=ml.HttpUrlSpec(url=f"http://127.0.0.1:{port}/hook", secret="s"))
            MlflowClient(registry_uri=first.url).create_model_version(name, source="s3://b/m")
        finally:
            first.kill()
        with Receiver(port=port) as receiver:
            second = ServerProcess(data_dir, database_url).start()
            try:
                [received] = receiver.wait_for(name, 1)
                assert received.json["event"] == "MODEL_VERSION_CREATED"
                assert received.json["version"] == "1" and _signed_by(received, "s")
                time.sleep(2)  # nothing more arrives: the row was deleted once delivered
                assert len(receiver.about(name)) == 1
            finally:
                second.stop()
