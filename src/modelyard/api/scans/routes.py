"""The model scan of a Unity Catalog version, MLflow's `{error_code, message}` envelope.

    GET  /api/modelyard/v1/models/{name}/versions/{version}/scan   the stored result
    POST /api/modelyard/v1/models/{name}/versions/{version}/scan   scan the files again

Both answer `{"name", "version", "scan": {"status": "CLEAN" | "UNSAFE" | "NOT_SCANNED",
"findings": [{"severity", "file", "call", "message"}], "reason", "scanner", "scanned_at",
"files_scanned", "bytes_read", "more_findings"}}` (services/scanning.py).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.scans import ScanResult
from modelyard.services.context import Actor
from modelyard.services.scanning import ScanService

SCAN = "/api/modelyard/v1/models/{name}/versions/{version}/scan"


def _scans(request: Request) -> ScanService:
    service: ScanService = request.app.state.scans
    return service


def _answer(request: Request, result: ScanResult) -> dict[str, Any]:
    path = request.path_params
    return {"name": path["name"], "version": path["version"], "scan": result.as_dict()}


def get_scan(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    path = request.path_params
    return _answer(request, _scans(request).get(actor, path["name"], path["version"]))


async def rescan(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    path = request.path_params
    # Reads the version's files: off the event loop.
    result = await run_in_threadpool(_scans(request).rescan, actor, path["name"],
                                     path["version"])
    return _answer(request, result)


def routes() -> list[BaseRoute]:
    return [
        Route(SCAN, endpoint(get_scan), methods=["GET"]),
        Route(SCAN, endpoint(rescan), methods=["POST"]),
    ]
