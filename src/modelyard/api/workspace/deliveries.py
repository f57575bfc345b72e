"""The delivery log of a webhook (either dialect), and manual redelivery:

    GET  /api/modelyard/v1/webhooks/{webhook_id}/deliveries?max_results=&page_token=
    POST /api/modelyard/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.errors import InvalidArgument
from modelyard.services.context import Actor
from modelyard.services.webhooks import WebhookService

PREFIX = "/api/modelyard/v1/webhooks/{webhook_id}/deliveries"


def _service(request: Request) -> WebhookService:
    return request.app.state.webhooks


def list_deliveries(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    found, token = _service(request).deliveries(
        actor, request.path_params["webhook_id"], p.optional_int("max_results"),
        p.optional_str("page_token"))
    body: dict[str, Any] = {"deliveries": [
        {**asdict(d), "attempts": [asdict(a) for a in d.attempts]} for d in found]}
    if token:
        body["next_page_token"] = token
    return body


def redeliver(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    raw = request.path_params["delivery_id"]
    if not raw.isdigit():
        raise InvalidArgument(f"Delivery id {raw!r} must be a number (an 'id' from the "
                              f"delivery log).")
    new_id = _service(request).redeliver(actor, request.path_params["webhook_id"], int(raw))
    return {"delivery_id": new_id}


def routes() -> list[BaseRoute]:
    return [Route(PREFIX, endpoint(list_deliveries), methods=["GET"]),
            Route(f"{PREFIX}/{{delivery_id}}/redeliver", endpoint(redeliver),
                  methods=["POST"])]
