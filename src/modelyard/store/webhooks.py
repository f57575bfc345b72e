"""Registry webhooks: rows in `registry_webhooks`, read back as domain webhooks."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, Row, delete, insert, select, update

from modelyard.domain.errors import NotFound
from modelyard.domain.webhooks import HttpTarget, Webhook, WebhookEvent, WebhookStatus
from modelyard.store.tables import registry_webhooks

wh = registry_webhooks


def webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound(f"Webhook with ID {webhook_id} does not exist.")


def _webhook(row: Row[Any]) -> Webhook:
    return Webhook(
        id=row.id, model_name=row.model_name,
        events=tuple(WebhookEvent(e) for e in orjson.loads(row.events)),
        status=WebhookStatus(row.status), description=row.description,
        target=HttpTarget(row.url, row.secret, row.authorization,
                          bool(row.enable_ssl_verification)),
        creation_timestamp=row.created_at, last_updated_timestamp=row.updated_at,
        last_delivery_timestamp=row.last_delivery_at,
        last_delivery_status_code=row.last_delivery_status,
        last_delivery_error=row.last_delivery_error)


def _values(webhook: Webhook) -> dict[str, Any]:
    t = webhook.target
    return {"model_name": webhook.model_name,
            "events": orjson.dumps([e.value for e in webhook.events]).decode(),
            "status": webhook.status.value, "description": webhook.description,
            "url": t.url, "secret": t.secret, "authorization": t.authorization,
            "enable_ssl_verification": t.enable_ssl_verification,
            "updated_at": webhook.last_updated_timestamp}


class WebhookRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, webhook_id: str) -> Webhook:
        row = self.conn.execute(select(wh).where(wh.c.id == webhook_id)).first()
        if row is None:
            raise webhook_not_found(webhook_id)
        return _webhook(row)

    def insert(self, webhook: Webhook) -> None:
        self.conn.execute(insert(wh).values(id=webhook.id,
                                            created_at=webhook.creation_timestamp,
                                            **_values(webhook)))

    def replace(self, webhook: Webhook) -> None:
        self.conn.execute(update(wh).where(wh.c.id == webhook.id).values(**_values(webhook)))

    def delete(self, webhook_id: str) -> None:
        self.conn.execute(delete(wh).where(wh.c.id == webhook_id))

    def page(self, model_name: str | None, after_id: str, limit: int) -> list[Webhook]:
        """Webhooks in id order after `after_id`; with `model_name`, only that model's."""
        query = select(wh).where(wh.c.id > after_id).order_by(wh.c.id).limit(limit)
        if model_name is not None:
            query = query.where(wh.c.model_name == model_name)
        return [_webhook(row) for row in self.conn.execute(query)]

    def active(self) -> list[Webhook]:
        """Every ACTIVE webhook (few: they are matched in memory)."""
        query = select(wh).where(wh.c.status == WebhookStatus.ACTIVE.value)
        return [_webhook(row) for row in self.conn.execute(query)]

    def rename_model(self, old: str, new: str) -> None:
        self.conn.execute(update(wh).where(wh.c.model_name == old).values(model_name=new))

    def delete_for_model(self, model_name: str) -> None:
        self.conn.execute(delete(wh).where(wh.c.model_name == model_name))

    def record_delivery(self, webhook_id: str, at: int, status_code: int | None,
                        error: str | None) -> None:
        self.conn.execute(update(wh).where(wh.c.id == webhook_id).values(
            last_delivery_at=at, last_delivery_status=status_code,
            last_delivery_error=error))
