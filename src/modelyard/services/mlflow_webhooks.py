"""MLflow 3 webhooks: create, get, list, update, delete and test, as `MlflowClient` calls
them (/api/2.0/mlflow/webhooks). They are registry-wide (MLflow has no per-model webhooks), so
only an admin manages them; their deliveries go through the same outbox and workers as
Databricks' registry webhooks (events/webhooks.py). The secret is write-only: never rendered,
never in the audit trail (only whether one is set).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from modelyard.domain import mlflow_webhooks
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.mlflow_webhooks import MlflowEvent
from modelyard.domain.webhooks import (
    MAX_HEADER,
    MAX_URL,
    Dialect,
    HttpTarget,
    Webhook,
    WebhookStatus,
)
from modelyard.events.webhooks import Outcome, WebhookDispatcher
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.services.webhooks import DEFAULT_PAGE, MAX_PAGE, of_dialect

_STATUSES = {"ACTIVE": WebhookStatus.ACTIVE, "DISABLED": WebhookStatus.DISABLED}


def _url(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidArgument(f"Webhook URL cannot be empty or just whitespace: {raw!r}")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise InvalidArgument(f"Invalid webhook URL scheme: {parts.scheme!r}. Allowed schemes "
                              f"are: http, https.")
    if not parts.hostname or len(raw) > MAX_URL:
        raise InvalidArgument(f"Webhook URL must include a hostname and be at most {MAX_URL} "
                              f"characters: {raw!r}")
    return raw


def _status(raw: Any) -> WebhookStatus:
    status = _STATUSES.get(str(raw).upper()) if raw not in (None, "") else None
    if status is None:
        raise InvalidArgument(f"Invalid webhook status {raw!r}; valid statuses are ACTIVE and "
                              f"DISABLED.")
    return status


def _secret(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > MAX_HEADER:
        raise InvalidArgument(f"Webhook secret must be a string of at most {MAX_HEADER} "
                              f"characters.")
    return raw


def _state(webhook: Webhook) -> dict[str, Any]:
    """The webhook as the audit trail records it: no secret."""
    return {"id": webhook.id, "name": webhook.name,
            "events": [e.value for e in webhook.events], "status": webhook.status.value,
            "description": webhook.description, "url": webhook.target.url,
            "has_secret": webhook.target.secret is not None}


class MlflowWebhookService:
    def __init__(self, units: UnitOfWorkFactory, dispatcher: WebhookDispatcher) -> None:
        self.units = units
        self.dispatcher = dispatcher

    @staticmethod
    def _require_admin(actor: Actor, action: str) -> None:
        authorization.require_admin(actor, action, "registry", "root")

    @staticmethod
    def _record(uow: UnitOfWork, action: str, before: dict[str, Any] | None,
                after: dict[str, Any] | None) -> None:
        uow.record(action, "registry", "root", before=before, after=after)

    def create(self, actor: Actor, name: Any, url: Any, events: Any,
               description: Any = None, secret: Any = None, status: Any = None) -> Webhook:
        now = now_ms()
        webhook = Webhook(
            id=uuid.uuid4().hex, model_name=None, dialect=Dialect.MLFLOW,
            name=mlflow_webhooks.validate_name(name),
            events=mlflow_webhooks.parse_events(events),
            status=_status(status) if status not in (None, "") else WebhookStatus.ACTIVE,
            description=mlflow_webhooks.validate_description(description),
            target=HttpTarget(_url(url), _secret(secret)),
            creation_timestamp=now, last_updated_timestamp=now)
        # Before the transaction: resolving the host may take a while.
        self.dispatcher.check_target(webhook.target.url)
        with self.units.write(actor) as uow:
            # Inside the unit: a refusal is recorded in the audit trail.
            self._require_admin(actor, "mlflow_webhook.create")
            uow.webhooks.insert(webhook)
            self._record(uow, "mlflow_webhook.create", None, _state(webhook))
        return webhook

    def get(self, actor: Actor, webhook_id: str) -> Webhook:
        with self.units.read(actor) as uow:
            self._require_admin(actor, "mlflow_webhook.get")
            return of_dialect(uow.webhooks, webhook_id, Dialect.MLFLOW)

    def list_webhooks(self, actor: Actor, max_results: int | None = None,
                      page_token: str | None = None) -> tuple[list[Webhook], str]:
        limit = max_results or DEFAULT_PAGE
        if limit < 1 or limit > MAX_PAGE:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_PAGE}.")
        with self.units.read(actor) as uow:
            self._require_admin(actor, "mlflow_webhook.list")
            found = uow.webhooks.page(None, page_token or "", limit, Dialect.MLFLOW)
        return found, (found[-1].id if len(found) == limit else "")

    def update(self, actor: Actor, webhook_id: str, name: Any = None, description: Any = None,
               url: Any = None, events: Any = None, secret: Any = None,
               status: Any = None) -> Webhook:
        """Fields left out (or empty, as the client's proto sends them) keep their value; a
        new secret replaces the stored one."""
        if url:
            self.dispatcher.check_target(_url(url))
        with self.units.write(actor) as uow:
            self._require_admin(actor, "mlflow_webhook.update")
            current = of_dialect(uow.webhooks, webhook_id, Dialect.MLFLOW)
            changed = current
            if name:
                changed = replace(changed, name=mlflow_webhooks.validate_name(name))
            if description is not None:
                changed = replace(changed, description=mlflow_webhooks.validate_description(
                    description))
            if url or secret:
                changed = replace(changed, target=HttpTarget(
                    _url(url) if url else current.target.url,
                    _secret(secret) if secret else current.target.secret))
            if events:
                changed = replace(changed, events=mlflow_webhooks.parse_events(events))
            if status not in (None, ""):
                changed = replace(changed, status=_status(status))
            changed = replace(changed, last_updated_timestamp=now_ms())
            uow.webhooks.replace(changed)
            self._record(uow, "mlflow_webhook.update", _state(current), _state(changed))
            return changed

    def delete(self, actor: Actor, webhook_id: str) -> None:
        with self.units.write(actor) as uow:
            self._require_admin(actor, "mlflow_webhook.delete")
            current = of_dialect(uow.webhooks, webhook_id, Dialect.MLFLOW)
            uow.webhooks.delete(webhook_id)
            self._record(uow, "mlflow_webhook.delete", _state(current), None)

    def test(self, actor: Actor, webhook_id: str, event: Any = None) -> Outcome:
        """Send MLflow's example payload for the event (default: the webhook's first) now,
        whatever the status, and answer what the receiver said."""
        webhook = self.get(actor, webhook_id)
        chosen = (mlflow_webhooks.parse_event(event) if event
                  else MlflowEvent(webhook.events[0]))
        outcome = self.dispatcher.deliver_mlflow_test(webhook, chosen)
        with self.units.write(actor) as uow:
            self._record(uow, "mlflow_webhook.test", None,
                         {"id": webhook.id, "event": chosen.value,
                          "status_code": outcome.status_code, "error": outcome.error})
        return outcome
