"""Webhooks of both dialects (Databricks' registry webhooks, MLflow 3's): rows in
`registry_webhooks`, read back as domain webhooks; the outbox (`webhook_deliveries`), whose rows
stay once finished as the delivery log, with one `webhook_delivery_attempts` row per attempt.
The secret and the Authorization value are encrypted in the row (store/secret_box.py): the
repository seals them on the way in and opens them on the way out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, delete, exists, func, insert, select, update

from modelyard.domain.errors import NotFound
from modelyard.domain.filters import PROMPT_TAG
from modelyard.domain.mlflow_webhooks import MlflowEvent
from modelyard.domain.webhooks import Dialect, HttpTarget, Webhook, WebhookEvent, WebhookStatus
from modelyard.store.secret_box import SecretBox
from modelyard.store.tables import (
    registered_model_tags,
    registered_models,
    registry_webhooks,
    webhook_deliveries,
    webhook_delivery_attempts,
)

wh, wd, wa = registry_webhooks, webhook_deliveries, webhook_delivery_attempts
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound(f"Webhook with ID {webhook_id} does not exist.")


def _webhook(row: Row[Any], box: SecretBox) -> Webhook:
    dialect = Dialect(row.dialect)
    kind: type[WebhookEvent] | type[MlflowEvent] = (
        MlflowEvent if dialect is Dialect.MLFLOW else WebhookEvent)
    return Webhook(
        id=row.id, model_name=row.model_name, dialect=dialect, name=row.name,
        events=tuple(kind(e) for e in orjson.loads(row.events)),
        status=WebhookStatus(row.status), description=row.description,
        target=HttpTarget(row.url, box.open_optional(row.secret),
                          box.open_optional(row.authorization),
                          bool(row.enable_ssl_verification)),
        creation_timestamp=row.created_at, last_updated_timestamp=row.updated_at,
        last_delivery_timestamp=row.last_delivery_at,
        last_delivery_status_code=row.last_delivery_status,
        last_delivery_error=row.last_delivery_error)


def _values(webhook: Webhook, box: SecretBox) -> dict[str, Any]:
    t = webhook.target
    return {"model_name": webhook.model_name, "dialect": webhook.dialect.value,
            "name": webhook.name,
            "events": orjson.dumps([e.value for e in webhook.events]).decode(),
            "status": webhook.status.value, "description": webhook.description,
            "url": t.url, "secret": box.seal_optional(t.secret),
            "authorization": box.seal_optional(t.authorization),
            "enable_ssl_verification": t.enable_ssl_verification,
            "updated_at": webhook.last_updated_timestamp}


class WebhookRepository:
    """`box` is needed by the methods that read or write whole webhooks."""

    def __init__(self, conn: Connection, box: SecretBox | None = None) -> None:
        self.conn = conn
        self._box = box

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            raise RuntimeError("WebhookRepository needs the SecretBox to read or write webhooks")
        return self._box

    def get(self, webhook_id: str) -> Webhook:
        row = self.conn.execute(select(wh).where(wh.c.id == webhook_id)).first()
        if row is None:
            raise webhook_not_found(webhook_id)
        return _webhook(row, self.box)

    def insert(self, webhook: Webhook) -> None:
        self.conn.execute(insert(wh).values(id=webhook.id,
                                            created_at=webhook.creation_timestamp,
                                            **_values(webhook, self.box)))

    def replace(self, webhook: Webhook) -> None:
        self.conn.execute(update(wh).where(wh.c.id == webhook.id).values(
            **_values(webhook, self.box)))

    def delete(self, webhook_id: str) -> None:
        self.conn.execute(delete(wh).where(wh.c.id == webhook_id))

    def page(self, model_name: str | None, after_id: str, limit: int,
             dialect: Dialect = Dialect.DATABRICKS) -> list[Webhook]:
        """The dialect's webhooks in id order after `after_id`; with `model_name`, only that
        model's."""
        query = (select(wh).where(wh.c.id > after_id, wh.c.dialect == dialect.value)
                 .order_by(wh.c.id).limit(limit))
        if model_name is not None:
            query = query.where(wh.c.model_name == model_name)
        return [_webhook(row, self.box) for row in self.conn.execute(query)]

    def active(self) -> list[Webhook]:
        """Every ACTIVE webhook (few: they are matched in memory)."""
        query = select(wh).where(wh.c.status == WebhookStatus.ACTIVE.value)
        return [_webhook(row, self.box) for row in self.conn.execute(query)]

    def rename_model(self, old: str, new: str) -> None:
        self.conn.execute(update(wh).where(wh.c.model_name == old).values(model_name=new))

    def delete_for_model(self, model_name: str) -> None:
        self.conn.execute(delete(wh).where(wh.c.model_name == model_name))

    def record_delivery(self, webhook_id: str, at: int, status_code: int | None,
                        error: str | None) -> None:
        self.conn.execute(update(wh).where(wh.c.id == webhook_id).values(
            last_delivery_at=at, last_delivery_status=status_code,
            last_delivery_error=error))

    def model_is_prompt(self, model_name: str) -> bool:
        """Whether the workspace model carries MLflow's prompt tag (its events are prompt_*)."""
        rmt, rm = registered_model_tags, registered_models
        value = self.conn.execute(
            select(rmt.c.value).join(rm, rm.c.id == rmt.c.model_id)
            .where(rm.c.registry == "workspace", rm.c.name == model_name,
                   rmt.c.key == PROMPT_TAG)).scalar()
        return str(value or "").lower() == "true"

    # ---- the outbox ------------------------------------------------------------------------

    def enqueue(self, deliveries: list[tuple[str, str, bytes]], now: int,
                redelivery_of: int | None = None) -> list[int]:
        """(webhook id, event name, JSON body) rows, due at once; their ids."""
        if not deliveries:
            return []
        return list(self.conn.execute(insert(wd).returning(wd.c.id), [
            {"webhook_id": hook_id, "event": event, "body": body.decode(), "attempts": 0,
             "next_attempt_at": now, "claimed_until": 0, "created_at": now,
             "delivery_uuid": str(uuid.uuid4()), "state": PENDING,
             "redelivery_of": redelivery_of}
            for hook_id, event, body in deliveries]).scalars())

    def claim(self, now: int, lease_until: int, limit: int) -> list[PendingDelivery]:
        """Take up to `limit` due deliveries no one holds, holding them until `lease_until`;
        only the oldest pending delivery of each webhook, so each webhook's are made in order.
        Concurrent claimers never get the same row: PostgreSQL's `FOR UPDATE SKIP LOCKED`
        passes over rows another claimer holds (and the update re-checks `claimed_until`);
        SQLite runs one writer at a time."""
        earlier = wd.alias("earlier")
        due = (select(wd.c.id).where(
            wd.c.state == PENDING, wd.c.next_attempt_at <= now, wd.c.claimed_until <= now,
            ~exists().where(earlier.c.webhook_id == wd.c.webhook_id,
                            earlier.c.state == PENDING, earlier.c.id < wd.c.id))
            .order_by(wd.c.id).limit(limit).with_for_update(skip_locked=True))
        ids = list(self.conn.execute(due).scalars())
        if not ids:
            return []
        rows = self.conn.execute(
            update(wd).where(and_(wd.c.id.in_(ids), wd.c.claimed_until <= now))
            .values(claimed_until=lease_until)
            .returning(wd.c.id, wd.c.webhook_id, wd.c.event, wd.c.body, wd.c.attempts,
                       wd.c.created_at, wd.c.delivery_uuid)).all()
        return sorted((PendingDelivery(r.id, r.webhook_id, r.event, r.body.encode(), r.attempts,
                                       r.created_at, r.delivery_uuid or str(r.id))
                       for r in rows), key=lambda d: d.id)

    def log_attempt(self, delivery_id: int, attempt: AttemptRecord) -> None:
        """One attempt's outcome: a row of the log, and the delivery's last outcome."""
        self.conn.execute(insert(wa).values(
            delivery_id=delivery_id, attempt=attempt.attempt, at=attempt.at,
            status_code=attempt.status_code, latency_ms=attempt.latency_ms,
            error=attempt.error, response=attempt.response))
        self.conn.execute(update(wd).where(wd.c.id == delivery_id).values(
            attempts=attempt.attempt, status_code=attempt.status_code, error=attempt.error,
            latency_ms=attempt.latency_ms, response=attempt.response))

    def finish(self, delivery_id: int, state: str, at: int, error: str | None = None) -> None:
        """Delivered or failed for good: the row stays, as the log, until the retention ends."""
        values: dict[str, Any] = {"state": state, "finished_at": at, "claimed_until": 0}
        if error is not None:
            values["error"] = error
        self.conn.execute(update(wd).where(wd.c.id == delivery_id).values(**values))

    def retry_later(self, delivery_id: int, at: int) -> None:
        self.conn.execute(update(wd).where(wd.c.id == delivery_id).values(
            next_attempt_at=at, claimed_until=0))

    def prune(self, before: int) -> int:
        """Remove the finished deliveries (and their attempts) finished before `before`."""
        old = select(wd.c.id).where(wd.c.state != PENDING, wd.c.finished_at < before)
        self.conn.execute(delete(wa).where(wa.c.delivery_id.in_(old)))
        return self.conn.execute(delete(wd).where(wd.c.state != PENDING,
                                                  wd.c.finished_at < before)).rowcount

    def outbox_state(self) -> tuple[int, int | None]:
        """(deliveries still pending, creation time in ms of the oldest, None when none)."""
        count, oldest = self.conn.execute(
            select(func.count(), func.min(wd.c.created_at)).select_from(wd)
            .where(wd.c.state == PENDING)).one()
        return int(count), oldest

    def any_due(self, now: int) -> bool:
        return self.conn.execute(select(wd.c.id).where(
            wd.c.state == PENDING, wd.c.next_attempt_at <= now,
            wd.c.claimed_until <= now).limit(1)).first() is not None

    # ---- the delivery log --------------------------------------------------------------------

    def deliveries(self, webhook_id: str, before_id: int | None, limit: int
                   ) -> list[DeliveryRecord]:
        """The webhook's deliveries, newest first, each with its attempts."""
        query = (select(wd).where(wd.c.webhook_id == webhook_id)
                 .order_by(wd.c.id.desc()).limit(limit))
        if before_id is not None:
            query = query.where(wd.c.id < before_id)
        rows = self.conn.execute(query).all()
        attempts: dict[int, list[AttemptRecord]] = {r.id: [] for r in rows}
        if rows:
            for a in self.conn.execute(select(wa).where(wa.c.delivery_id.in_(list(attempts)))
                                       .order_by(wa.c.delivery_id, wa.c.attempt)):
                attempts[a.delivery_id].append(AttemptRecord(
                    a.attempt, a.at, a.status_code, a.latency_ms, a.error, a.response))
        return [DeliveryRecord(
            id=r.id, webhook_id=r.webhook_id, event=r.event, delivery_uuid=r.delivery_uuid,
            state=r.state, created_at=r.created_at, finished_at=r.finished_at,
            attempt_count=r.attempts, status_code=r.status_code, error=r.error,
            latency_ms=r.latency_ms, response=r.response, redelivery_of=r.redelivery_of,
            next_attempt_at=r.next_attempt_at if r.state == PENDING else None,
            attempts=tuple(attempts[r.id])) for r in rows]

    def delivery(self, webhook_id: str, delivery_id: int) -> tuple[str, bytes]:
        """(event, body) of one of the webhook's deliveries."""
        row = self.conn.execute(select(wd.c.event, wd.c.body).where(
            wd.c.id == delivery_id, wd.c.webhook_id == webhook_id)).first()
        if row is None:
            raise NotFound(f"Delivery {delivery_id} of webhook {webhook_id} does not exist "
                           f"(or is past the retention period).")
        return row.event, row.body.encode()

    def by_ids(self, ids: set[str]) -> dict[str, Webhook]:
        if not ids:
            return {}
        return {row.id: _webhook(row, self.box)
                for row in self.conn.execute(select(wh).where(wh.c.id.in_(sorted(ids))))}


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    id: int
    webhook_id: str
    event: str
    body: bytes  # posted exactly as stored (the signature covers these bytes)
    attempts: int  # made so far
    created_at: int = 0  # ms: when the change that caused it committed
    delivery_uuid: str = ""  # the same on every attempt: receivers may deduplicate with it


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    attempt: int  # 1, 2, ...
    at: int  # ms
    status_code: int | None
    latency_ms: int
    error: str | None
    response: str | None  # the start of the answer's body


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery as the log shows it."""

    id: int
    webhook_id: str
    event: str
    delivery_uuid: str | None
    state: str  # pending, delivered, failed
    created_at: int
    finished_at: int | None
    attempt_count: int
    status_code: int | None
    error: str | None
    latency_ms: int | None
    response: str | None
    redelivery_of: int | None
    next_attempt_at: int | None
    attempts: tuple[AttemptRecord, ...]
