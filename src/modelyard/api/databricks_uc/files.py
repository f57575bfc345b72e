"""The Files API subset the `databricks-uc` client uses in DEFAULT_STORAGE mode, and the signed
URLs it hands out:

    POST /api/2.0/fs/create-upload-url    {path: /Models/c/s/m/v/<file>} -> {url, headers}
    POST /api/2.0/fs/create-download-url  {path}                         -> {url, headers}
    GET  /api/2.0/fs/directories/Models/c/s/m/v/[<dir>]                -> {contents: [...]}
    PUT  /api/modelyard/v1/signed-files/{full_name}/{version}/{path}?…  (no Authorization)
    GET  /api/modelyard/v1/signed-files/{full_name}/{version}/{path}?…  (no Authorization)
    GET  /.well-known/databricks-config  (the databricks-sdk host-metadata probe)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from modelyard.api.auth import authenticate
from modelyard.api.databricks_uc import render
from modelyard.api.http import BodyError, JSONResponse, json_body
from modelyard.api.mlflow.errors import domain_error_response, error_response
from modelyard.domain.errors import InvalidArgument, ModelyardError, NotFound
from modelyard.services.model_files import SIGNED_PREFIX, ModelFileService

_SIGNED = SIGNED_PREFIX + "/{full_name}/{version}/{path:path}"


def _service(request: Request) -> ModelFileService:
    service: ModelFileService = request.app.state.model_files
    return service


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _path_from_body(request: Request) -> str:
    path = (await json_body(request)).get("path")
    if not isinstance(path, str) or not path:
        raise InvalidArgument("Missing value for required parameter 'path'.")
    return path


async def create_upload_url(request: Request) -> Response:
    try:
        actor = await authenticate(request)
        path = await _path_from_body(request)
        url = await run_in_threadpool(_service(request).upload_url, actor, path)
    except ModelyardError as error:
        return domain_error_response(error)
    except BodyError as error:
        return error_response("MALFORMED_REQUEST", str(error), 400)
    return JSONResponse({"url": _base_url(request) + url, "headers": []})


async def create_download_url(request: Request) -> Response:
    try:
        actor = await authenticate(request)
        path = await _path_from_body(request)
        url = await run_in_threadpool(_service(request).download_url, actor, path)
    except ModelyardError as error:
        return domain_error_response(error)
    except BodyError as error:
        return error_response("MALFORMED_REQUEST", str(error), 400)
    return JSONResponse({"url": _base_url(request) + url, "headers": []})


async def list_directory(request: Request) -> Response:
    try:
        actor = await authenticate(request)
        entries = await run_in_threadpool(_service(request).list_directory, actor,
                                          "/" + request.path_params["path"])
    except NotFound as error:
        # The client treats NOT_FOUND as "this is not a directory".
        return error_response("NOT_FOUND", error.message, 404)
    except ModelyardError as error:
        return domain_error_response(error)
    return JSONResponse({"contents": [render.dir_entry(e) for e in entries]})


async def _body_chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


async def signed_upload(request: Request) -> Response:
    params = request.path_params
    try:
        with request.app.state.in_flight.track():  # cleanup runs even if the server stops
            await _service(request).receive_upload(
                params["full_name"], params["version"], params["path"],
                dict(request.query_params), _body_chunks(request))
    except ModelyardError as error:
        return domain_error_response(error)
    return JSONResponse({})


async def signed_download(request: Request) -> Response:
    params = request.path_params
    try:
        file, chunks = await run_in_threadpool(
            _service(request).open_download, params["full_name"], params["version"],
            params["path"], dict(request.query_params))
    except ModelyardError as error:
        return domain_error_response(error)
    # A plain iterator: Starlette pulls it in a worker thread, off the event loop.
    return StreamingResponse(chunks, media_type="application/octet-stream",
                             headers={"Content-Length": str(file.size),
                                      "X-Modelyard-Sha256": file.sha256})


async def databricks_config(request: Request) -> Response:
    # No OIDC: clients authenticate with personal access tokens.
    return JSONResponse({"oidc_endpoint": ""})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/2.0/fs/create-upload-url", create_upload_url, methods=["POST"]),
        Route("/api/2.0/fs/create-download-url", create_download_url, methods=["POST"]),
        Route("/api/2.0/fs/directories/{path:path}", list_directory, methods=["GET"]),
        Route(_SIGNED, signed_upload, methods=["PUT"]),
        Route(_SIGNED, signed_download, methods=["GET"]),
        Route("/.well-known/databricks-config", databricks_config, methods=["GET"]),
    ]
