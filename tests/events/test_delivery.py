"""The delivery workers' rules on a real database of either engine, called synchronously:
retries with backoff until the attempts run out (then failed, every attempt logged), one
delivery at a time per webhook in order, claims that skip what another claimer holds, and the
log's retention."""

from __future__ import annotations

import threading
import time

import pytest
from cryptography.fernet import Fernet

from modelyard.domain.clock import now_ms
from modelyard.domain.mlflow_webhooks import MlflowEvent
from modelyard.domain.webhook_targets import AllowList
from modelyard.domain.webhooks import Dialect, HttpTarget, Webhook, WebhookStatus
from modelyard.events.webhooks import WebhookDispatcher
from modelyard.store import migrate
from modelyard.store.database import Database
from modelyard.store.secret_box import SecretBox
from modelyard.store.webhooks import DELIVERED, FAILED, AttemptRecord, WebhookRepository
from tests.store.conftest import EmptyDatabases, empty_databases  # noqa: F401
from tests.support.receiver import Receiver


@pytest.fixture()
def database(empty_databases: EmptyDatabases) -> Database:  # noqa: F811
    db = empty_databases()
    migrate.upgrade(db)
    return db


BOX = SecretBox(Fernet.generate_key())


def _add_hook(database: Database, hook_id: str, url: str) -> None:
    hook = Webhook(id=hook_id, model_name=None, events=(MlflowEvent.MODEL_VERSION_CREATED,),
                   status=WebhookStatus.ACTIVE, description="", target=HttpTarget(url, "s"),
                   creation_timestamp=0, last_updated_timestamp=0, dialect=Dialect.MLFLOW,
                   name=hook_id)
    with database.write() as conn:
        WebhookRepository(conn, BOX).insert(hook)


def _enqueue(database: Database, hook_id: str, body: bytes) -> int:
    with database.write() as conn:
        [delivery_id] = WebhookRepository(conn).enqueue(
            [(hook_id, "model_version.created", body)], now_ms())
    return delivery_id


def test_retries_with_backoff_then_failed(database: Database) -> None:
    with Receiver(status=503, reply="busy") as receiver:
        _add_hook(database, "h1", receiver.url)
        _enqueue(database, "h1", b'{"n": 1}')
        dispatcher = WebhookDispatcher(database, BOX, attempts=3, backoff=0.05, backoff_max=0.1,
                                       allow=AllowList.parse("127.0.0.1"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            dispatcher.deliver_due()
            with database.read() as conn:
                [delivery] = WebhookRepository(conn).deliveries("h1", None, 10)
            if delivery.state != "pending":
                break
            time.sleep(0.02)
        assert delivery.state == FAILED and delivery.attempt_count == 3
        assert [a.status_code for a in delivery.attempts] == [503, 503, 503]
        assert all(a.response == "busy" and a.error == "HTTP 503" for a in delivery.attempts)
        gaps = [b.at - a.at for a, b in zip(delivery.attempts, delivery.attempts[1:],
                                            strict=False)]
        assert all(gap >= 20 for gap in gaps)  # backoff (with jitter: half to all of it)
        assert len(receiver.requests) == 3


def test_one_at_a_time_per_webhook_in_order(database: Database) -> None:
    for hook in ("a", "b"):
        _add_hook(database, hook, "http://127.0.0.1:9/x")
    a1, a2 = _enqueue(database, "a", b"1"), _enqueue(database, "a", b"2")
    b1 = _enqueue(database, "b", b"3")
    now = now_ms()
    with database.write() as conn:
        claimed = WebhookRepository(conn).claim(now, now + 60_000, 10)
    assert [d.id for d in claimed] == [a1, b1]  # a2 waits for a1
    with database.write() as conn:
        repo = WebhookRepository(conn)
        assert repo.claim(now, now + 60_000, 10) == []  # held, and a2 still behind a1
        repo.log_attempt(a1, AttemptRecord(1, now, 200, 5, None, "ok"))
        repo.finish(a1, DELIVERED, now)
    with database.write() as conn:
        assert [d.id for d in WebhookRepository(conn).claim(now, now + 60_000, 10)] == [a2]


def test_concurrent_claims_never_share_a_delivery(database: Database) -> None:
    _add_hook(database, "c", "http://127.0.0.1:9/x")
    for hook in range(6):
        _add_hook(database, f"h{hook}", "http://127.0.0.1:9/x")
        _enqueue(database, f"h{hook}", b"x")
    now = now_ms()
    got: list[list[int]] = []
    barrier = threading.Barrier(3)

    def claim() -> None:
        barrier.wait()
        with database.write() as conn:
            got.append([d.id for d in WebhookRepository(conn).claim(now, now + 60_000, 2)])

    threads = [threading.Thread(target=claim) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    ids = [i for batch in got for i in batch]
    assert len(ids) == 6 and len(set(ids)) == 6


def test_retention_prunes_finished_deliveries_only(database: Database) -> None:
    _add_hook(database, "r", "http://127.0.0.1:9/x")
    old, pending = _enqueue(database, "r", b"old"), _enqueue(database, "r", b"new")
    with database.write() as conn:
        repo = WebhookRepository(conn)
        repo.log_attempt(old, AttemptRecord(1, 1000, 200, 3, None, "ok"))
        repo.finish(old, DELIVERED, 1000)
        assert repo.prune(now_ms() - 60_000) == 1
    with database.read() as conn:
        assert [d.id for d in WebhookRepository(conn).deliveries("r", None, 10)] == [pending]
