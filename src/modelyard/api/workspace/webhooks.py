"""Registry webhooks as databricks-sdk `model_registry.create_webhook`, `list_webhooks`,
`update_webhook`, `delete_webhook` and `test_registry_webhook` call them.

Responses carry `http_url_spec` without `secret` and `authorization` (HttpUrlSpecWithoutSecret).
They also carry the last delivery's outcome (`last_delivery_*`), which databricks-sdk ignores
and users read to see failing receivers.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.webhooks import Webhook
from modelyard.services.context import Actor
from modelyard.services.webhooks import WebhookService

WEBHOOKS = "/api/2.0/mlflow/registry-webhooks"


def _service(request: Request) -> WebhookService:
    return request.app.state.webhooks


def render(webhook: Webhook) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": webhook.id, "events": [e.value for e in webhook.events],
        "status": webhook.status.value, "description": webhook.description,
        "http_url_spec": {"url": webhook.target.url,
                          "enable_ssl_verification": webhook.target.enable_ssl_verification},
        "creation_timestamp": webhook.creation_timestamp,
        "last_updated_timestamp": webhook.last_updated_timestamp,
    }
    if webhook.model_name is not None:
        body["model_name"] = webhook.model_name
    if webhook.last_delivery_timestamp is not None:
        body["last_delivery_timestamp"] = webhook.last_delivery_timestamp
        if webhook.last_delivery_status_code is not None:
            body["last_delivery_status_code"] = webhook.last_delivery_status_code
        if webhook.last_delivery_error:
            body["last_delivery_error"] = webhook.last_delivery_error
    return body


def create_webhook(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    created = _service(request).create(
        actor, p.raw("events"), p.raw("http_url_spec"), p.raw("job_spec"),
        p.optional_str("model_name"), p.optional_str("description"), p.optional_str("status"))
    return {"webhook": render(created)}


def update_webhook(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    updated = _service(request).update(
        actor, p.required_str("id"), p.raw("events"), p.raw("http_url_spec"),
        p.raw("job_spec"), p.optional_str("description"), p.optional_str("status"))
    return {"webhook": render(updated)}


def delete_webhook(request: Request, actor: Actor, p: Params) -> None:
    _service(request).delete(actor, p.required_str("id"))


def list_webhooks(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    # `events` repeats in the query string (events=A&events=B); Params keeps only the last.
    events = request.query_params.getlist("events") or p.raw("events")
    found, token = _service(request).list_webhooks(
        actor, p.optional_str("model_name"), events, p.optional_int("max_results"),
        p.optional_str("page_token"))
    body: dict[str, Any] = {"webhooks": [render(w) for w in found]}
    if token:
        body["next_page_token"] = token
    return body


def test_webhook(request: Request, actor: Actor, p: Params) -> Awaitable[dict[str, Any]]:
    """The mock delivery waits for the receiver: off the event loop, on a worker thread."""
    webhook_id, event = p.required_str("id"), p.optional_str("event")

    async def run() -> dict[str, Any]:
        outcome = await run_in_threadpool(_service(request).test, actor, webhook_id, event)
        return {"status_code": outcome.status_code, "body": outcome.body}

    return run()


def routes() -> list[BaseRoute]:
    return [
        Route(f"{WEBHOOKS}/create", endpoint(create_webhook), methods=["POST"]),
        Route(f"{WEBHOOKS}/update", endpoint(update_webhook), methods=["PATCH"]),
        Route(f"{WEBHOOKS}/delete", endpoint(delete_webhook), methods=["DELETE"]),
        Route(f"{WEBHOOKS}/list", endpoint(list_webhooks), methods=["GET"]),
        Route(f"{WEBHOOKS}/test", endpoint(test_webhook), methods=["POST"]),
    ]
