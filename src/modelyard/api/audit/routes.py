"""GET /api/modelyard/v1/audit: the audit trail, filtered and paged."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.audit import AuditQuery
from modelyard.services.audit import AuditService
from modelyard.services.context import Actor


def list_events(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    service: AuditService = request.app.state.audit
    query = AuditQuery(object_type=p.optional_str("object_type"),
                       object_name=p.optional_str("object") or p.optional_str("object_name"),
                       actor=p.optional_str("actor"), action=p.optional_str("action"),
                       since_ms=p.optional_int("since"), until_ms=p.optional_int("until"),
                       request_id=p.optional_str("request_id"))
    events, token = service.search(actor, query, p.optional_str("page_token"),
                                   p.optional_int("max_results"))
    body: dict[str, Any] = {"events": [asdict(e) for e in events]}
    body["next_page_token"] = token or None
    return body


def routes() -> list[BaseRoute]:
    return [Route("/api/modelyard/v1/audit", endpoint(list_events), methods=["GET"])]
