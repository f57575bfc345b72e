"""Registry webhooks: rows in `registry_webhooks`, read back as domain webhooks, and the
outbox of deliveries still to make (`webhook_deliveries`). The secret and the Authorization
value are encrypted in the row (store/secret_box.py): the repository seals them on the way in
and opens them on the way out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, delete, func, insert, select, update

from modelyard.domain.errors import NotFound
from modelyard.domain.webhooks import HttpTarget, Webhook, WebhookEvent, WebhookStatus
from modelyard.store.secret_box import SecretBox
from modelyard.store.tables import registry_webhooks, webhook_deliveries

wh, wd = registry_webhooks, webhook_deliveries


def webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound(f"Webhook with ID {webhook_id} does not exist.")


def _webhook(row: Row[Any], box: SecretBox) -> Webhook:
    return Webhook(
        id=row.id, model_name=row.model_name,
        events=tuple(WebhookEvent(e) for e in orjson.loads(row.events)),
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
    return {"model_name": webhook.model_name,
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

    def page(self, model_name: str | None, after_id: str, limit: int) -> list[Webhook]:
        """Webhooks in id order after `after_id`; with `model_name`, only that model's."""
        query = select(wh).where(wh.c.id > after_id).order_by(wh.c.id).limit(limit)
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

    # ---- the outbox ------------------------------------------------------------------------

    def enqueue(self, deliveries: list[tuple[str, str, bytes]], now: int) -> None:
        """(webhook id, event name, JSON body) rows, due at once."""
        if deliveries:
            self.conn.execute(insert(wd), [
                {"webhook_id": hook_id, "event": event, "body": body.decode(), "attempts": 0,
                 "next_attempt_at": now, "claimed_until": 0, "created_at": now}
                for hook_id, event, body in deliveries])

    def claim(self, now: int, lease_until: int, limit: int) -> list[PendingDelivery]:
        """Take up to `limit` due deliveries no one holds, holding them until `lease_until`.
        Concurrent claimers never get the same row: SQLite runs one writer at a time, and
        PostgreSQL re-checks `claimed_until` on a row another transaction just claimed."""
        due = (select(wd.c.id).where(wd.c.next_attempt_at <= now, wd.c.claimed_until <= now)
               .order_by(wd.c.id).limit(limit))
        ids = list(self.conn.execute(due).scalars())
        if not ids:
            return []
        rows = self.conn.execute(
            update(wd).where(and_(wd.c.id.in_(ids), wd.c.claimed_until <= now))
            .values(claimed_until=lease_until)
            .returning(wd.c.id, wd.c.webhook_id, wd.c.event, wd.c.body, wd.c.attempts,
                       wd.c.created_at)).all()
        return sorted((PendingDelivery(r.id, r.webhook_id, r.event, r.body.encode(), r.attempts,
                                       r.created_at)
                       for r in rows), key=lambda d: d.id)

    def finish(self, delivery_id: int) -> None:
        self.conn.execute(delete(wd).where(wd.c.id == delivery_id))

    def retry_later(self, delivery_id: int, attempts: int, at: int) -> None:
        self.conn.execute(update(wd).where(wd.c.id == delivery_id).values(
            attempts=attempts, next_attempt_at=at, claimed_until=0))

    def outbox_state(self) -> tuple[int, int | None]:
        """(deliveries in the outbox, creation time in ms of the oldest, None when empty)."""
        count, oldest = self.conn.execute(
            select(func.count(), func.min(wd.c.created_at)).select_from(wd)).one()
        return int(count), oldest

    def any_due(self, now: int) -> bool:
        return self.conn.execute(select(wd.c.id).where(
            wd.c.next_attempt_at <= now, wd.c.claimed_until <= now).limit(1)).first() is not None

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
