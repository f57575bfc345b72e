"""`/api/2.0/mlflow/unity-catalog/*`: what mlflow's `UcModelRegistryStore` (registry URI
`databricks-uc`) calls, each a thin call into UcModelService / ModelFileService.

Storage is always DEFAULT_STORAGE: the client uploads and downloads through Modelyard's own
signed URLs (`/api/2.0/fs/*`, see files.py), whatever backend holds the files.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.api import openapi
from modelyard.api.databricks_uc import render
from modelyard.api.endpoint import Dialect, in_thread
from modelyard.api.mlflow.errors import domain_error_response, error_response
from modelyard.api.mlflow.params import Params
from modelyard.domain.catalog import Lineage, VersionStatus, split_model_name
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import InvalidArgument
from modelyard.services.context import Actor
from modelyard.services.model_files import ModelFileService
from modelyard.services.uc_models import UcModelService

PREFIX = "/api/2.0/mlflow/unity-catalog"
Handler = Callable[[State, Actor, Params], Any]
_NAME_FILTER = re.compile(r"""^\s*name\s*=\s*(['"])(?P<name>[^'"]+)\1\s*$""")
_READ_WRITE = "MODEL_VERSION_OPERATION_READ_WRITE"
_READ = "MODEL_VERSION_OPERATION_READ"


_DIALECT: Dialect[Params] = Dialect(
    read_params=Params.from_request,
    target=lambda request: request.app.state,
    domain_error=domain_error_response,
    malformed_body=lambda message: error_response("MALFORMED_REQUEST", message, 400),
)


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    # Every call that may touch storage or check a signature is marked `in_thread`; so are
    # this dialect's other writes (as they were). The reads that only ask the database run
    # inline, as in the other dialects.
    return _DIALECT.endpoint(handler)


def _models(state: State) -> UcModelService:
    service: UcModelService = state.uc_models
    return service


def _files(state: State) -> ModelFileService:
    service: ModelFileService = state.model_files
    return service


# ---- registered models ----------------------------------------------------------------------

@in_thread
def create_registered_model(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    catalog, schema, name = split_model_name(params.required_str("name"))
    model = _models(state).create_model(actor, catalog, schema, name,
                                        params.optional_str("description"), params.tags())
    return {"registered_model": render.registered_model(model)}


def get_registered_model(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return {"registered_model": render.registered_model(
        _models(state).get_model(actor, params.required_str("name")))}


@in_thread
def update_registered_model(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    model = _models(state).update_model(actor, params.required_str("name"),
                                        comment=params.optional_str("description"),
                                        new_name=params.optional_str("new_name"))
    return {"registered_model": render.registered_model(model)}


@in_thread
def delete_registered_model(state: State, actor: Actor, params: Params) -> None:
    _models(state).delete_model(actor, params.required_str("name"))


def search_registered_models(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    page = _models(state).list_models(actor, max_results=params.optional_int("max_results"),
                                      page_token=params.optional_str("page_token"))
    body: dict[str, Any] = {"registered_models": [render.registered_model(m)
                                                  for m in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


@in_thread
def set_registered_model_tag(state: State, actor: Actor, params: Params) -> None:
    _models(state).set_model_tag(actor, params.required_str("name"), params.required_str("key"),
                                 params.optional_str("value") or "")


@in_thread
def delete_registered_model_tag(state: State, actor: Actor, params: Params) -> None:
    _models(state).delete_model_tag(actor, params.required_str("name"), params.required_str("key"))


# ---- aliases --------------------------------------------------------------------------------

@in_thread
def set_alias(state: State, actor: Actor, params: Params) -> None:
    _models(state).set_alias(actor, params.required_str("name"), params.required_str("alias"),
                             params.required_version())


@in_thread
def delete_alias(state: State, actor: Actor, params: Params) -> None:
    _models(state).delete_alias(actor, params.required_str("name"), params.required_str("alias"))


def get_by_alias(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return {"model_version": render.model_version(
        _models(state).get_version_by_alias(actor, params.required_str("name"),
                                            params.required_str("alias")))}


# ---- model versions -------------------------------------------------------------------------

def _dependencies(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument("Parameter 'model_version_dependencies' must be a list.")
    return value


@in_thread
def create_model_version(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    source = params.required_str("source")
    lineage = Lineage(run_id=params.optional_str("run_id") or "", source=source,
                      model_id=params.optional_str("model_id") or "",
                      run_tracking_server_id=params.optional_str("run_tracking_server_id") or "",
                      model_version_dependencies=_dependencies(
                          params.raw("model_version_dependencies")))
    version = _models(state).create_version(actor, params.required_str("name"), source,
                                            params.optional_str("description"), lineage,
                                            params.tags())
    return {"model_version": render.model_version(version)}


@in_thread
def finalize_model_version(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    # Databricks requires a signature; the client checks it, and finalize checks it again on
    # the stored files (UcModelService.require_signature).
    version = _models(state).finalize_version(actor, params.required_str("name"),
                                              params.required_version())
    return {"model_version": render.model_version(version)}


def get_model_version(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return {"model_version": render.model_version(
        _models(state).get_version(actor, params.required_str("name"), params.required_version()))}


@in_thread
def update_model_version(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return {"model_version": render.model_version(
        _models(state).update_version(actor, params.required_str("name"), params.required_version(),
                                      params.optional_str("description")))}


@in_thread
def delete_model_version(state: State, actor: Actor, params: Params) -> None:
    _models(state).delete_version(actor, params.required_str("name"), params.required_version())


def search_model_versions(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    match = _NAME_FILTER.match(params.optional_str("filter") or "")
    if not match:
        raise InvalidArgument(
            "Unity Catalog model version search requires a filter of the form "
            "\"name='<catalog>.<schema>.<model>'\".")
    page = _models(state).list_versions(actor, match["name"], params.optional_int("max_results"),
                                        params.optional_str("page_token"))
    body: dict[str, Any] = {"model_versions": [render.model_version(v) for v in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def get_download_uri(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    version = _models(state).get_version(actor, params.required_str("name"),
                                         params.required_version())
    return {"artifact_uri": version.storage_location}


@in_thread
def set_version_tag(state: State, actor: Actor, params: Params) -> None:
    _models(state).set_version_tag(actor, params.required_str("name"), params.required_version(),
                                   params.required_str("key"), params.optional_str("value") or "")


@in_thread
def delete_version_tag(state: State, actor: Actor, params: Params) -> None:
    _models(state).delete_version_tag(actor, params.required_str("name"), params.required_version(),
                                      params.required_str("key"))


@in_thread
def temporary_credentials(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    operation = params.required_str("operation")
    name, number = params.required_str("name"), params.required_version()
    if operation == _READ_WRITE:
        _models(state).writable_location(actor, name, number)
    elif operation == _READ:
        version = _models(state).get_version(actor, name, number)
        if version.status is VersionStatus.FAILED_REGISTRATION:
            raise InvalidArgument(f"Model version {version.full_name}/{version.version} "
                                  "failed registration; it has no files.")
    else:
        raise InvalidArgument(f"Invalid operation '{operation}': use {_READ_WRITE} or {_READ}.")
    # DEFAULT_STORAGE: the client moves files through Modelyard's signed URLs (fs/*).
    ttl = _files(state).url_ttl
    return {"credentials": {"storage_mode": "DEFAULT_STORAGE",
                            "expiration_time": now_ms() + ttl * 1000}}


def sdk_artifact_repo_enabled(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return {"is_databricks_sdk_models_artifact_repository_enabled": False}


@in_thread
def emit_lineage(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    """What mlflow sends when a consumer loads a version (EmitModelVersionLineageRequest):
    recorded on the version (its `lineage_events`), and answered with them."""
    info = params.raw("model_version_lineage_info") or {}
    securable = params.raw("securable")
    if not isinstance(info, dict) or (securable is not None and not isinstance(securable,
                                                                               dict)):
        raise InvalidArgument("'model_version_lineage_info' and 'securable' must be objects.")
    entities = info.get("entities") or []
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise InvalidArgument("'model_version_lineage_info.entities' must be a list of objects "
                              "(notebook, job or pipeline).")
    direction = str(info.get("direction") or "DOWNSTREAM").upper()
    if direction not in ("UPSTREAM", "DOWNSTREAM"):
        raise InvalidArgument(f"Invalid lineage direction '{direction}': use UPSTREAM or "
                              "DOWNSTREAM.")
    report: dict[str, Any] = {"direction": direction, "entities": entities}
    if securable:
        report["securable"] = securable
    version = _models(state).emit_lineage(actor, params.required_str("name"),
                                           params.required_version(), report)
    return {"lineage_events": version.lineage.emitted}


_TABLE: list[tuple[str, str, Handler]] = [
    ("/registered-models/create", "POST", create_registered_model),
    ("/registered-models/update", "PATCH", update_registered_model),
    ("/registered-models/delete", "DELETE", delete_registered_model),
    ("/registered-models/get", "GET", get_registered_model),
    ("/registered-models/search", "GET", search_registered_models),
    ("/registered-models/set-tag", "POST", set_registered_model_tag),
    ("/registered-models/delete-tag", "DELETE", delete_registered_model_tag),
    ("/registered-models/alias", "POST", set_alias),
    ("/registered-models/alias", "DELETE", delete_alias),
    ("/registered-models/alias", "GET", get_by_alias),
    ("/registered-models:is-databricks-sdk-models-artifact-repository-enabled", "GET",
     sdk_artifact_repo_enabled),
    ("/model-versions/create", "POST", create_model_version),
    ("/model-versions/update", "PATCH", update_model_version),
    ("/model-versions/delete", "DELETE", delete_model_version),
    ("/model-versions/get", "GET", get_model_version),
    ("/model-versions/search", "GET", search_model_versions),
    ("/model-versions/generate-temporary-credentials", "POST", temporary_credentials),
    ("/model-versions/get-download-uri", "GET", get_download_uri),
    ("/model-versions/finalize", "POST", finalize_model_version),
    ("/model-versions/set-tag", "POST", set_version_tag),
    ("/model-versions/delete-tag", "DELETE", delete_version_tag),
    ("/model-versions/emit-lineage", "POST", emit_lineage),
]


def routes() -> list[BaseRoute]:
    by_path: dict[str, dict[str, Handler]] = {}
    for path, method, handler in _TABLE:
        by_path.setdefault(path, {})[method] = handler
    table: list[BaseRoute] = []
    for path, handlers in by_path.items():
        endpoints = {m: _endpoint(h) for m, h in handlers.items()}
        table.append(Route(PREFIX + path, _dispatch(endpoints), methods=list(endpoints)))
    return table


def _dispatch(endpoints: dict[str, Callable[[Request], Awaitable[Response]]],
              ) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await endpoints[request.method](request)

    setattr(endpoint, openapi.BY_METHOD, endpoints)

    return endpoint
