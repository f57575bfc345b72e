"""The web page of a webhook's delivery log (either dialect): each delivery with its event,
time, state, attempts, last status code, latency, error and the start of the answer."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.services.context import Actor
from modelyard.web.handlers import web
from modelyard.web.render import page


@web
async def deliveries_page(request: Request, actor: Actor) -> Response:
    webhook_id = request.path_params["webhook_id"]
    token = request.query_params.get("page_token") or None
    found, next_token = await run_in_threadpool(
        request.app.state.webhooks.deliveries, actor, webhook_id, 50, token)
    return page(request, "webhook_deliveries.html", webhook_id=webhook_id, deliveries=found,
                next_token=next_token)
