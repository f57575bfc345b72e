"""MLflow 3 webhooks through the real `MlflowClient`, delivered to a real receiver: the
payload MLflow's server sends, signed so that MLflow's own signing code verifies it; a receiver
down for a while, a SIGKILLed server, two servers on one PostgreSQL; the delivery log (API, CLI,
web page) and manual redelivery; targets refused by the allow-list."""

from __future__ import annotations

import hmac
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.webhooks.delivery import _generate_hmac_signature

from modelyard.store.database import sqlite_url_for
from tests.api.history.test_stream import Subscriber
from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.receiver import Received, Receiver
from tests.support.server import MODELYARD, ServerProcess, free_port

ALIAS_CREATED = WebhookEvent("model_version_alias", "created")
SECRET = "whsec-test"
#: Retries every 0.2-0.4 s: a receiver that is down for a while is reached within 0.4 s of
#: coming up; 300 attempts outlast a receiver down for 60 s.
#: The receivers' address, and one private network (nothing else private may be a target).
ALLOWED = "127.0.0.1,10.1.2.0/24"
FAST_RETRIES = ["--webhook-backoff", "0.2", "--webhook-backoff-max", "0.4",
                "--webhook-max-attempts", "300", "--webhook-timeout", "2"]
#: How long the receiver of test_receiver_down_then_up_log_and_redelivery stays down: long
#: enough for many failed attempts with backoff (every 0.2-0.4 s) and a delivery still pending
#: after them; far from the 300 attempts that would give it up.
RECEIVER_DOWN_SECONDS = 5.0


def verified_by_mlflow(received: Received, secret: str) -> bool:
    """Verify as a receiver written for MLflow's server does: MLflow's own signing function
    over the delivery id, the timestamp and the raw body."""
    headers = {k.lower(): v for k, v in received.headers.items()}
    expected = _generate_hmac_signature(secret, headers["x-mlflow-delivery-id"],
                                        headers["x-mlflow-timestamp"], received.body.decode())
    return hmac.compare_digest(headers.get("x-mlflow-signature", ""), expected)


@pytest.fixture(scope="module")
def hooks_server(engine: str, pg_available: bool, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[ServerProcess]:
    """A server with fast retries (module-scoped: started once per engine)."""
    for database_url in database_url_for(engine, pg_available):
        process = ServerProcess(tmp_path_factory.mktemp(f"mlflow-hooks-{engine}"), database_url,
                                extra_args=FAST_RETRIES,
                                webhook_allow_hosts=ALLOWED).start()
        try:
            yield process
        finally:
            process.stop()


def _client(server: ServerProcess) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def _model_with_versions(client: MlflowClient, count: int) -> str:
    name = f"mlhook-{uuid.uuid4().hex[:10]}"
    client.create_registered_model(name)
    for _ in range(count):
        client.create_model_version(name, source="s3://bucket/model")
    return name


def _deliveries(server: ServerProcess, webhook_id: str) -> list[dict[str, Any]]:
    answer = http_clients.get(f"{server.url}/api/modelyard/v1/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


def _wait(condition: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_alias_move_is_delivered_signed_as_mlflow_does(hooks_server: ServerProcess) -> None:
    client = _client(hooks_server)
    with Receiver() as receiver:
        hook = client.create_webhook(name="deploy-on-champion", url=receiver.url,
                                     events=[ALIAS_CREATED], secret=SECRET,
                                     description="CI deploys")
        try:
            assert hook.status == WebhookStatus.ACTIVE and hook.events == [ALIAS_CREATED]
            name = _model_with_versions(client, 2)
            client.set_registered_model_alias(name, "champion", "2")
            [received] = receiver.wait_for(name, 1)
            assert verified_by_mlflow(received, SECRET)
            assert not verified_by_mlflow(received, "another-secret")
            body = received.json
            assert (body["entity"], body["action"]) == ("model_version_alias", "created")
            assert body["data"] == {"name": name, "alias": "champion", "version": "2"}
            assert "timestamp" in body
            # Versions created earlier are not alias events: only this one arrived.
            time.sleep(0.3)
            assert len(receiver.about(name)) == 1
        finally:
            client.delete_webhook(hook.webhook_id)


def test_crud_as_the_mlflow_client_calls_it(hooks_server: ServerProcess) -> None:
    client = _client(hooks_server)
    hook = client.create_webhook(
        name="all-events", url="https://hooks.example.com/in",
        events=[ALIAS_CREATED, WebhookEvent("prompt_version", "created"),
                WebhookEvent("model_version_tag", "deleted")], secret="never-shown")
    try:
        got = client.get_webhook(hook.webhook_id)
        assert (got.name, got.url, got.status) == ("all-events", "https://hooks.example.com/in",
                                                   WebhookStatus.ACTIVE)
        assert hook.webhook_id in [w.webhook_id for w in client.list_webhooks()]
        raw = http_clients.get(f"{hooks_server.url}/api/2.0/mlflow/webhooks/{hook.webhook_id}")
        assert "never-shown" not in raw.text and "secret" not in raw.text
        updated = client.update_webhook(hook.webhook_id, status=WebhookStatus.DISABLED,
                                        description="paused")
        assert updated.status == WebhookStatus.DISABLED and updated.description == "paused"
        assert updated.name == "all-events" and len(updated.events) == 3
        # Databricks' registry-webhooks API does not see MLflow's webhooks, and vice versa.
        listed = http_clients.get(
            f"{hooks_server.url}/api/2.0/mlflow/registry-webhooks/list").json()
        assert hook.webhook_id not in str(listed)
        with pytest.raises(MlflowException, match="no AI gateway"):
            client.create_webhook(name="bad", url="https://hooks.example.com/x",
                                  events=[WebhookEvent("budget_policy", "exceeded")])
        with pytest.raises(MlflowException, match="name"):
            client.create_webhook(name="-bad name-", url="https://hooks.example.com/x",
                                  events=[ALIAS_CREATED])
    finally:
        client.delete_webhook(hook.webhook_id)
    with pytest.raises(MlflowException, match="does not exist"):
        client.get_webhook(hook.webhook_id)


def test_test_call_sends_mlflows_example_payload(hooks_server: ServerProcess) -> None:
    client = _client(hooks_server)
    with Receiver(status=201, reply="thanks") as receiver:
        hook = client.create_webhook(name="tested", url=receiver.url, events=[ALIAS_CREATED],
                                     secret=SECRET)
        try:
            result = client.test_webhook(hook.webhook_id)
            assert result.success and result.response_status == 201
            assert result.response_body == "thanks"
            [received] = receiver.wait_for("example_model", 1)
            assert verified_by_mlflow(received, SECRET)
            assert received.json["data"] == {"name": "example_model", "alias": "example_alias",
                                             "version": "1"}
        finally:
            client.delete_webhook(hook.webhook_id)


def test_receiver_down_then_up_log_and_redelivery(hooks_server: ServerProcess) -> None:
    """The receiver is down for 5 s: attempts fail and are logged with backoff; it comes up
    and the delivery arrives; the log (API, CLI, web page) shows every attempt; a manual
    redelivery sends the same payload again under a new delivery id."""
    client = _client(hooks_server)
    port = free_port()
    hook = client.create_webhook(name="flaky", url=f"http://127.0.0.1:{port}/hook",
                                 events=[ALIAS_CREATED], secret=SECRET)
    try:
        name = _model_with_versions(client, 1)
        client.set_registered_model_alias(name, "champion", "1")
        moved = time.monotonic()
        # Three failed attempts, each logged with its error; nothing is lost meanwhile.
        _wait(lambda: (d := _deliveries(hooks_server, hook.webhook_id))
              and d[0]["attempt_count"] >= 3)
        # The receiver stays down a while longer: the delivery keeps being retried, not given up.
        time.sleep(max(0.0, moved + RECEIVER_DOWN_SECONDS - time.monotonic()))
        [pending] = _deliveries(hooks_server, hook.webhook_id)
        assert pending["state"] == "pending" and pending["next_attempt_at"]
        assert all(a["status_code"] is None and a["error"] for a in pending["attempts"])
        times = [a["at"] for a in pending["attempts"]]
        assert times == sorted(times) and times[-1] - times[0] >= 300  # backoff, not a spin
        with Receiver(port=port) as receiver:
            [received] = receiver.wait_for(name, 1)
            assert verified_by_mlflow(received, SECRET)
            done = _wait(lambda: [d for d in _deliveries(hooks_server, hook.webhook_id)
                                  if d["state"] == "delivered"])
            [delivery] = done
            assert delivery["status_code"] == 200 and delivery["response"] == "ok"
            assert delivery["attempt_count"] == len(delivery["attempts"]) >= 4
            assert delivery["attempts"][-1]["status_code"] == 200
            assert delivery["latency_ms"] is not None and delivery["error"] is None

            cli = subprocess.run(
                [MODELYARD, "webhooks", "deliveries", hook.webhook_id, "--attempts",
                 "--url", hooks_server.url], capture_output=True, text=True, timeout=30)
            assert cli.returncode == 0, cli.stderr
            assert "model_version_alias.created" in cli.stdout and "delivered" in cli.stdout
            assert "ConnectionRefusedError" in cli.stdout or "refused" in cli.stdout.lower()

            web = http_clients.get(f"{hooks_server.url}/webhooks/{hook.webhook_id}/deliveries")
            assert web.status_code == 200 and "model_version_alias.created" in web.text

            redo = subprocess.run(
                [MODELYARD, "webhooks", "redeliver", hook.webhook_id, str(delivery["id"]),
                 "--url", hooks_server.url], capture_output=True, text=True, timeout=30)
            assert redo.returncode == 0, redo.stderr
            first, second = receiver.wait_for(name, 2)
            assert second.body == first.body and verified_by_mlflow(second, SECRET)
            assert (second.headers["X-MLflow-Delivery-Id"]
                    != first.headers["X-MLflow-Delivery-Id"])
            newest = _deliveries(hooks_server, hook.webhook_id)[0]
            assert newest["redelivery_of"] == delivery["id"]
    finally:
        client.delete_webhook(hook.webhook_id)


def test_redelivery_of_an_unknown_delivery_is_404(hooks_server: ServerProcess) -> None:
    client = _client(hooks_server)
    hook = client.create_webhook(name="nothing", url="https://hooks.example.com/x",
                                 events=[ALIAS_CREATED])
    try:
        answer = http_clients.post(f"{hooks_server.url}/api/modelyard/v1/webhooks/"
                                   f"{hook.webhook_id}/deliveries/999999/redeliver")
        assert answer.status_code == 404
        assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert http_clients.get(f"{hooks_server.url}/api/modelyard/v1/webhooks/nope/deliveries"
                                ).status_code == 404
    finally:
        client.delete_webhook(hook.webhook_id)


def test_sigkill_with_pending_deliveries_then_each_arrives_once_in_order(
        engine: str, pg_available: bool, tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir: Path = tmp_path_factory.mktemp(f"mlflow-crash-{engine}")
    port = free_port()
    for database_url in database_url_for(engine, pg_available):
        first = ServerProcess(data_dir, database_url, extra_args=FAST_RETRIES).start()
        try:
            client = _client(first)
            client.create_webhook(name="crash", url=f"http://127.0.0.1:{port}/hook",
                                  events=[ALIAS_CREATED], secret=SECRET)
            name = _model_with_versions(client, 3)
            for version in ("1", "2", "3"):
                client.set_registered_model_alias(name, "champion", version)
        finally:
            first.kill()
        # The secret is encrypted at rest (the secret box), like Databricks' webhooks' secrets.
        engine_ = sqlalchemy.create_engine(database_url or sqlite_url_for(data_dir))
        with engine_.connect() as conn:
            stored = conn.execute(sqlalchemy.text(
                "SELECT secret FROM registry_webhooks WHERE name = 'crash'")).scalar_one()
        engine_.dispose()
        assert stored and SECRET not in stored
        with Receiver(port=port) as receiver:
            second = ServerProcess(data_dir, database_url, extra_args=FAST_RETRIES).start()
            try:
                received = receiver.wait_for(name, 3)
                assert [r.json["data"]["version"] for r in received] == ["1", "2", "3"]
                assert all(verified_by_mlflow(r, SECRET) for r in received)
                time.sleep(1.0)  # nothing more arrives: each was marked delivered once
                assert len(receiver.about(name)) == 3
            finally:
                second.stop()


@pytest.fixture(scope="module")
def replicas(pg_available: bool, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[list[ServerProcess]]:
    """Two server processes on one PostgreSQL database (shared by the tests below)."""
    if not pg_available:
        pytest.skip("PostgreSQL not reachable")
    for database_url in database_url_for("postgresql", pg_available):
        assert database_url
        servers = [ServerProcess(tmp_path_factory.mktemp(f"replica-{n}"), database_url,
                                 extra_args=FAST_RETRIES) for n in range(2)]
        servers[0].start()  # migrates the database; then the second starts
        servers[1].start()
        try:
            yield servers
        finally:
            for server in servers:
                server.stop()


def test_two_servers_on_one_postgres_deliver_each_event_once(
        replicas: list[ServerProcess]) -> None:
    servers = replicas
    with Receiver() as receiver:
        clients = [_client(s) for s in servers]
        hook = clients[0].create_webhook(name="replicas", url=receiver.url,
                                         events=[ALIAS_CREATED], secret=SECRET)
        try:
            name = _model_with_versions(clients[0], 1)
            time.sleep(1.2)  # the other replica's webhook cache refreshes within 1 s
            moves = 20
            for n in range(moves):
                clients[n % 2].set_registered_model_alias(name, f"a{n}", "1")
            receiver.wait_for(name, moves)
            time.sleep(0.5)  # nothing more arrives
            received = receiver.about(name)
            ids = [r.headers["X-MLflow-Delivery-Id"] for r in received]
            assert len(ids) == moves and len(set(ids)) == moves
            assert sorted(r.json["data"]["alias"] for r in received) == sorted(
                f"a{n}" for n in range(moves))
            log = _deliveries(servers[1], hook.webhook_id)
            assert len(log) == moves and all(d["attempt_count"] == 1 for d in log)
        finally:
            clients[0].delete_webhook(hook.webhook_id)


def test_stream_subscriber_sees_moves_made_through_the_other_server(
        replicas: list[ServerProcess]) -> None:
    """A serving process subscribed to replica A reloads when @champion moves through
    replica B: every subscriber sees every change, whichever process made it, once each."""
    a, b = replicas
    client_b = _client(b)
    name = _model_with_versions(client_b, 3)
    sub = Subscriber(a.url, {"model": name, "alias": "champion"})
    try:
        assert sub.status == 200
        for version in ("1", "2", "3"):
            client_b.set_registered_model_alias(name, "champion", version)
        seen = [sub.next(timeout=10)["data"] for _ in range(3)]
        assert [(d["model"], d["alias"], d["version"], d["previous_version"]) for d in seen] == [
            (name, "champion", "1", None), (name, "champion", "2", "1"),
            (name, "champion", "3", "2")]
        # A move through A itself reaches the same subscriber, after B's, in order.
        _client(a).set_registered_model_alias(name, "champion", "1")
        assert sub.next(timeout=10)["data"]["version"] == "1"
        time.sleep(1.0)  # past the follower's poll interval: nothing is sent twice
        assert sub.events.empty()
    finally:
        sub.close()


def test_private_targets_refused_unless_listed(hooks_server: ServerProcess) -> None:
    """The server's allow-list holds 127.0.0.1 and 10.1.2.0/24: every other private, loopback
    or link-local target is refused (a name resolving to one, and the refusal at delivery:
    tests/events/test_targets.py, with real sockets)."""
    client = _client(hooks_server)
    for url in ("http://127.0.0.2:9/x",
                "http://169.254.169.254/latest", "http://10.9.9.9/x", "http://[::1]:9/x",
                "http://192.168.1.1/x", "http://[::ffff:192.168.1.1]/x"):
        with pytest.raises(MlflowException, match="not a public address"):
            client.create_webhook(name="private", url=url, events=[ALIAS_CREATED])
    listed = client.create_webhook(name="listed", url="http://10.1.2.3:9/x",
                                   events=[ALIAS_CREATED])
    try:
        assert listed.url == "http://10.1.2.3:9/x"
        with pytest.raises(MlflowException, match="not a public address"):
            client.update_webhook(listed.webhook_id, url="http://10.1.3.3:9/x")
    finally:
        client.delete_webhook(listed.webhook_id)
    # Databricks' registry webhooks are checked the same way.
    answer = http_clients.post(f"{hooks_server.url}/api/2.0/mlflow/registry-webhooks/create", json={
        "events": ["MODEL_VERSION_CREATED"],
        "http_url_spec": {"url": "http://169.254.169.254/x"}})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
