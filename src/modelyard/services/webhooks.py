"""Registry webhooks: create, update, delete, list and test, as Databricks' workspace Model
Registry offers them; and, for webhooks of both dialects, the delivery log and redelivery.

A model-specific webhook needs CAN MANAGE on its model; a registry-wide one (no model name) a
metastore admin. Every change and every test is recorded, so it reaches the audit trail; the
recorded state never holds the secret or the Authorization value (only whether one is set).
Job webhooks (`job_spec`) are refused: Modelyard has no jobs service to run them.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from modelyard.domain.access import Level
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import FailedPrecondition, InvalidArgument, ModelyardError
from modelyard.domain.webhooks import (
    Dialect,
    HttpTarget,
    Webhook,
    WebhookEvent,
    WebhookStatus,
    parse_events,
    parse_http_spec,
    parse_status,
    test_occurrence,
    validate_description,
)
from modelyard.events.webhooks import Outcome, WebhookDispatcher
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import Event, UnitOfWork, UnitOfWorkFactory
from modelyard.store.webhooks import DeliveryRecord, WebhookRepository, webhook_not_found

MAX_PAGE = 1000
DEFAULT_PAGE = 100
_NO_JOBS = ("Job webhooks ('job_spec') are not supported: Modelyard has no jobs service. Use "
            "'http_url_spec' to call an HTTP endpoint instead.")


def _refuse_job_spec(job_spec: Any) -> None:
    if job_spec is not None:
        raise InvalidArgument(_NO_JOBS)


def _state(webhook: Webhook) -> dict[str, Any]:
    """The webhook as the audit trail records it: no secret, no Authorization value."""
    return {"id": webhook.id, "model_name": webhook.model_name,
            "events": [e.value for e in webhook.events], "status": webhook.status.value,
            "description": webhook.description, "url": webhook.target.url,
            "enable_ssl_verification": webhook.target.enable_ssl_verification,
            "has_secret": webhook.target.secret is not None,
            "has_authorization": webhook.target.authorization is not None}


def _audit_object(webhook: Webhook) -> tuple[str, str]:
    # Filed under the model (or the registry), so the model's managers see it in the trail.
    if webhook.model_name is None:
        return "registry", "root"
    return "registered_model", webhook.model_name


def of_dialect(repo: WebhookRepository, webhook_id: str,
         dialect: Dialect = Dialect.DATABRICKS) -> Webhook:
    """The webhook, if the dialect asking created it (each API sees its own only)."""
    webhook = repo.get(webhook_id)
    if webhook.dialect is not dialect:
        raise webhook_not_found(webhook_id)
    return webhook


def follow_models(conn: Connection, actor: Actor, events: list[Event]) -> None:
    """Before-commit hook: a model's webhooks follow its renames and are deleted with it, in
    the same transaction (a model re-created under the name must not inherit them)."""
    for event in events:
        if event.registry != "workspace" or event.object_type != "registered_model":
            continue
        if event.action == "registered_model.rename" and event.before:
            WebhookRepository(conn).rename_model(event.before["name"], event.object_name)
        elif event.action == "registered_model.delete":
            WebhookRepository(conn).delete_for_model(event.object_name)


class WebhookService:
    def __init__(self, units: UnitOfWorkFactory, dispatcher: WebhookDispatcher) -> None:
        self.units = units
        self.dispatcher = dispatcher

    def _require_manage(self, uow: UnitOfWork, actor: Actor, model_name: str | None,
                        action: str) -> None:
        if model_name is None:
            authorization.require_admin(actor, action, "registry", "root")
        else:
            authorization.require_workspace_model(uow.conn, actor, model_name,
                                                  Level.CAN_MANAGE, action)

    def _record(self, uow: UnitOfWork, action: str, webhook: Webhook,
                before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        object_type, object_name = _audit_object(webhook)
        uow.record(action, object_type, object_name, before=before, after=after)

    def create(self, actor: Actor, events: Any, http_url_spec: Any, job_spec: Any = None,
               model_name: str | None = None, description: str | None = None,
               status: str | None = None) -> Webhook:
        _refuse_job_spec(job_spec)
        if http_url_spec is None:
            raise InvalidArgument("Missing value for required parameter 'http_url_spec'.")
        model_name = model_name or None
        now = now_ms()
        webhook = Webhook(
            id=uuid.uuid4().hex, model_name=model_name,
            events=parse_events(events, registry_wide=model_name is None),
            status=parse_status(status) if status else WebhookStatus.ACTIVE,
            description=validate_description(description),
            target=parse_http_spec(http_url_spec),
            creation_timestamp=now, last_updated_timestamp=now)
        self.dispatcher.check_target(webhook.target.url)
        with self.units.write(actor) as uow:
            self._require_manage(uow, actor, model_name, "registry_webhook.create")
            if model_name is not None:
                uow.registry("workspace").model_id(model_name)  # admins too: it must exist
            uow.webhooks.insert(webhook)
            self._record(uow, "registry_webhook.create", webhook, None, _state(webhook))
        return webhook

    def update(self, actor: Actor, webhook_id: str, events: Any = None,
               http_url_spec: Any = None, job_spec: Any = None, description: str | None = None,
               status: str | None = None) -> Webhook:
        _refuse_job_spec(job_spec)
        with self.units.write(actor) as uow:
            repo = uow.webhooks
            current = of_dialect(repo, webhook_id)
            self._require_manage(uow, actor, current.model_name, "registry_webhook.update")
            changed = current
            if events is not None:
                changed = replace(changed, events=parse_events(
                    events, registry_wide=current.model_name is None))
            if http_url_spec is not None:
                changed = replace(changed, target=self._new_target(current.target,
                                                                   http_url_spec))
                self.dispatcher.check_target(changed.target.url)
            if description is not None:
                changed = replace(changed, description=validate_description(description))
            if status is not None:
                changed = replace(changed, status=parse_status(status))
            changed = replace(changed, last_updated_timestamp=now_ms())
            repo.replace(changed)
            self._record(uow, "registry_webhook.update", changed, _state(current),
                         _state(changed))
            return changed

    @staticmethod
    def _new_target(current: HttpTarget, raw: Any) -> HttpTarget:
        """A new URL spec; a secret or Authorization left out keeps the stored one when the
        URL is unchanged (clients cannot read them back to resend them)."""
        target = parse_http_spec(raw)
        if target.url != current.url or not isinstance(raw, dict):
            return target
        return HttpTarget(
            target.url,
            current.secret if "secret" not in raw else target.secret,
            current.authorization if "authorization" not in raw else target.authorization,
            target.enable_ssl_verification)

    def delete(self, actor: Actor, webhook_id: str) -> None:
        with self.units.write(actor) as uow:
            repo = uow.webhooks
            current = of_dialect(repo, webhook_id)
            self._require_manage(uow, actor, current.model_name, "registry_webhook.delete")
            repo.delete(webhook_id)
            self._record(uow, "registry_webhook.delete", current, _state(current), None)

    def list_webhooks(self, actor: Actor, model_name: str | None = None,
                      events: list[str] | None = None, max_results: int | None = None,
                      page_token: str | None = None) -> tuple[list[Webhook], str]:
        """Webhooks the caller may manage, in id order; the token is the last id shown."""
        limit = max_results or DEFAULT_PAGE
        if limit < 1 or limit > MAX_PAGE:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_PAGE}.")
        wanted = set(parse_events(events, registry_wide=True)) if events else None
        found: list[Webhook] = []
        after_id, exhausted = page_token or "", False
        with self.units.read(actor) as uow:
            if model_name:
                self._require_manage(uow, actor, model_name, "registry_webhook.list")
            repo = uow.webhooks
            levels: dict[str | None, bool] = {}
            while len(found) < limit and not exhausted:
                batch = repo.page(model_name or None, after_id, limit)
                exhausted = len(batch) < limit
                for webhook in batch:
                    after_id = webhook.id
                    if wanted is not None and not wanted.intersection(webhook.events):
                        continue
                    if not self._may_manage(uow, actor, webhook.model_name, levels):
                        continue
                    found.append(webhook)
                    if len(found) == limit:
                        break
        return found, (after_id if len(found) == limit and not exhausted else "")

    @staticmethod
    def _may_manage(uow: UnitOfWork, actor: Actor, model_name: str | None,
                    cache: dict[str | None, bool]) -> bool:
        if actor.is_admin:
            return True
        if model_name is None:
            return False
        if model_name not in cache:
            try:
                authorization.require_workspace_model(uow.conn, actor, model_name,
                                                      Level.CAN_MANAGE, "registry_webhook.list")
                cache[model_name] = True
            except ModelyardError:
                cache[model_name] = False
        return cache[model_name]

    def test(self, actor: Actor, webhook_id: str, event: str | None = None) -> Outcome:
        """Send one mock event now, whatever the status, and answer what the receiver said;
        a receiver that does not answer at all is an error naming why."""
        with self.units.read(actor) as uow:
            webhook = of_dialect(uow.webhooks, webhook_id)
            self._require_manage(uow, actor, webhook.model_name, "registry_webhook.test")
        chosen = WebhookEvent(webhook.events[0])
        if event:
            try:
                chosen = WebhookEvent(event)
            except ValueError:
                raise InvalidArgument(f"Invalid webhook event {event!r}.") from None
        outcome = self.dispatcher.deliver(webhook, test_occurrence(webhook, chosen), now_ms())
        with self.units.write(actor) as uow:
            self._record(uow, "registry_webhook.test", webhook, None,
                         {"id": webhook.id, "event": chosen.value,
                          "status_code": outcome.status_code, "error": outcome.error})
        if outcome.status_code is None:
            raise FailedPrecondition(f"The webhook receiver did not answer: {outcome.error}")
        return outcome

    # ---- the delivery log (both dialects) ------------------------------------------------------

    def deliveries(self, actor: Actor, webhook_id: str, max_results: int | None = None,
                   page_token: str | None = None) -> tuple[list[DeliveryRecord], str]:
        """The webhook's deliveries, newest first, with every attempt; the token is the last
        delivery id shown."""
        limit = max_results or DEFAULT_PAGE
        if limit < 1 or limit > MAX_PAGE:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_PAGE}.")
        before = None
        if page_token:
            if not page_token.isdigit():
                raise InvalidArgument("Invalid page_token: pass the next_page_token of the "
                                      "previous page.")
            before = int(page_token)
        with self.units.read(actor) as uow:
            webhook = uow.webhooks.get(webhook_id)
            self._require_manage(uow, actor, webhook.model_name, "webhook.deliveries")
            found = uow.webhooks.deliveries(webhook_id, before, limit)
        return found, (str(found[-1].id) if len(found) == limit else "")

    def redeliver(self, actor: Actor, webhook_id: str, delivery_id: int) -> int:
        """Send one logged delivery again, as a new delivery (same event and body) at the end
        of the webhook's queue; its id."""
        with self.units.write(actor) as uow:
            webhook = uow.webhooks.get(webhook_id)
            self._require_manage(uow, actor, webhook.model_name, "webhook.redeliver")
            if webhook.status is not WebhookStatus.ACTIVE:
                raise FailedPrecondition(f"Webhook {webhook_id} is {webhook.status.value}: "
                                         f"make it ACTIVE to redeliver.")
            event, body = uow.webhooks.delivery(webhook_id, delivery_id)
            [new_id] = uow.webhooks.enqueue([(webhook_id, event, body)], now_ms(),
                                            redelivery_of=delivery_id)
            object_type, object_name = _audit_object(webhook)
            uow.record("webhook.redeliver", object_type, object_name,
                       after={"id": webhook_id, "delivery": delivery_id,
                              "new_delivery": new_id})
        self.dispatcher.wake()
        return new_id
