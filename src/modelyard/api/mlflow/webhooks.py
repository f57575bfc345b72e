"""MLflow 3 webhooks as `MlflowClient.create_webhook`, `get_webhook`, `list_webhooks`,
`update_webhook`, `delete_webhook` and `test_webhook` call them (mlflow's rest_store and
webhooks.proto): `/api/2.0/mlflow/webhooks[/{webhook_id}[/test]]`, events as
`{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}`, no secret in any answer.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.mlflow_webhooks import MlflowEvent
from modelyard.domain.webhooks import Webhook
from modelyard.services.context import Actor
from modelyard.services.mlflow_webhooks import MlflowWebhookService

WEBHOOKS = "/api/2.0/mlflow/webhooks"


def _service(request: Request) -> MlflowWebhookService:
    return request.app.state.mlflow_webhooks


def render(webhook: Webhook) -> dict[str, Any]:
    body: dict[str, Any] = {
        "webhook_id": webhook.id, "name": webhook.name or "", "url": webhook.target.url,
        "events": [MlflowEvent(e).wire() for e in webhook.events],
        "status": webhook.status.value,
        "creation_timestamp": webhook.creation_timestamp,
        "last_updated_timestamp": webhook.last_updated_timestamp,
    }
    if webhook.description:
        body["description"] = webhook.description
    return body


def _id(request: Request) -> str:
    return str(request.path_params["webhook_id"])


def create_webhook(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    created = _service(request).create(
        actor, p.raw("name"), p.raw("url"), p.raw("events"), p.raw("description"),
        p.raw("secret"), p.raw("status"))
    return {"webhook": render(created)}


def get_webhook(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    return {"webhook": render(_service(request).get(actor, _id(request)))}


def list_webhooks(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    found, token = _service(request).list_webhooks(
        actor, p.optional_int("max_results"), p.optional_str("page_token"))
    body: dict[str, Any] = {"webhooks": [render(w) for w in found]}
    if token:
        body["next_page_token"] = token
    return body


def update_webhook(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    updated = _service(request).update(
        actor, _id(request), p.raw("name"), p.raw("description"), p.raw("url"),
        p.raw("events"), p.raw("secret"), p.raw("status"))
    return {"webhook": render(updated)}


def delete_webhook(request: Request, actor: Actor, p: Params) -> None:
    _service(request).delete(actor, _id(request))


def test_webhook(request: Request, actor: Actor, p: Params) -> Awaitable[dict[str, Any]]:
    """The test delivery waits for the receiver: off the event loop, on a worker thread."""
    webhook_id, event = _id(request), p.raw("event")

    async def run() -> dict[str, Any]:
        outcome = await run_in_threadpool(_service(request).test, actor, webhook_id, event)
        result: dict[str, Any] = {"success": outcome.status_code is not None
                                  and outcome.status_code < 400}
        if outcome.status_code is None:
            result["error_message"] = f"Failed to test webhook: {outcome.error}"
        else:
            result.update(response_status=outcome.status_code, response_body=outcome.body)
        return {"result": result}

    return run()


def routes() -> list[BaseRoute]:
    return [
        Route(WEBHOOKS, endpoint(create_webhook), methods=["POST"]),
        Route(WEBHOOKS, endpoint(list_webhooks), methods=["GET"]),
        Route(f"{WEBHOOKS}/{{webhook_id}}", endpoint(get_webhook), methods=["GET"]),
        Route(f"{WEBHOOKS}/{{webhook_id}}", endpoint(update_webhook), methods=["PATCH"]),
        Route(f"{WEBHOOKS}/{{webhook_id}}", endpoint(delete_webhook), methods=["DELETE"]),
        Route(f"{WEBHOOKS}/{{webhook_id}}/test", endpoint(test_webhook), methods=["POST"]),
    ]
