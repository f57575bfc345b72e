"""Modelyard's own file API for governed UC versions (used by `modelyard models download`):

    GET /api/modelyard/v1/uc/models/{full_name}/versions/{version}/files
        -> {"root_digest", "status", "files": [{"path", "size", "sha256"}]}
    GET /api/modelyard/v1/uc/models/{full_name}/versions/{version}/files/{path}
        -> the file's bytes, streamed; `X-Modelyard-Sha256` carries the recorded digest
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from modelyard.api.auth import authenticate
from modelyard.api.http import JSONResponse
from modelyard.api.unity_catalog.errors import domain_error_response
from modelyard.domain.errors import ModelyardError
from modelyard.services.uc_models import UcModelService

PREFIX = "/api/modelyard/v1/uc/models/{full_name}/versions/{version}/files"


async def list_files(request: Request) -> Response:
    service: UcModelService = request.app.state.uc_models
    try:
        actor = await authenticate(request)
        version, files = await run_in_threadpool(
            service.version_files, actor, request.path_params["full_name"],
            request.path_params["version"])
    except ModelyardError as error:
        return domain_error_response(error)
    return JSONResponse({
        "full_name": version.full_name, "version": version.version,
        "status": version.status.value, "root_digest": version.root_digest,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files],
    })


async def download_file(request: Request) -> Response:
    service: UcModelService = request.app.state.uc_models
    try:
        actor = await authenticate(request)
        file, chunks = await run_in_threadpool(
            service.open_file, actor, request.path_params["full_name"],
            request.path_params["version"], request.path_params["path"])
    except ModelyardError as error:
        return domain_error_response(error)
    # A plain iterator: Starlette reads it in a worker thread, off the event loop.
    return StreamingResponse(chunks, media_type="application/octet-stream",
                             headers={"Content-Length": str(file.size),
                                      "X-Modelyard-Sha256": file.sha256})


def routes() -> list[BaseRoute]:
    return [Route(PREFIX, list_files, methods=["GET"]),
            Route(PREFIX + "/{path:path}", download_file, methods=["GET"])]
