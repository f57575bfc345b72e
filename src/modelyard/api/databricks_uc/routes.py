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

from modelyard.api.databricks_uc import render
from modelyard.api.endpoint import Dialect
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
    # A call that may touch storage or check a signature runs in a worker thread; the reads
    # that only ask the database run inline, as in the other dialects (the thread hand-off
    # cost a version read more than the read itself; bench/, issue 6).
    return _DIALECT.endpoint(handler, blocking=handler.__name__ not in _DATABASE_READS)


#: Handlers that only read the database (by name: they are defined below).
_DATABASE_READS = frozenset({
    "get_registered_model", "search_registered_models", "get_by_alias", "get_model_version",
    "search_model_versions", "get_download_uri", "sdk_artifact_repo_enabled"})


def _models(state: State) -> UcModelService:
    service: UcModelService = state.uc_models
    return service


def _files(state: State) -> ModelFileService:
    service: ModelFileService = state.model_files
    return service


# ---- registered models ----------------------------------------------------------------------

def create_registered_model(s: State, a: Actor, p: Params) -> dict[str, Any]:
    catalog, schema, name = split_model_name(p.required_str("name"))
    model = _models(s).create_model(a, catalog, schema, name, p.optional_str("description"),
                                    p.tags())
    return {"registered_model": render.registered_model(model)}


def get_registered_model(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return {"registered_model": render.registered_model(
        _models(s).get_model(a, p.required_str("name")))}


def update_registered_model(s: State, a: Actor, p: Params) -> dict[str, Any]:
    model = _models(s).update_model(a, p.required_str("name"),
                                    comment=p.optional_str("description"),
                                    new_name=p.optional_str("new_name"))
    return {"registered_model": render.registered_model(model)}


def delete_registered_model(s: State, a: Actor, p: Params) -> None:
    _models(s).delete_model(a, p.required_str("name"))


def search_registered_models(s: State, a: Actor, p: Params) -> dict[str, Any]:
    page = _models(s).list_models(a, max_results=p.optional_int("max_results"),
                                  page_token=p.optional_str("page_token"))
    body: dict[str, Any] = {"registered_models": [render.registered_model(m)
                                                  for m in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def set_registered_model_tag(s: State, a: Actor, p: Params) -> None:
    _models(s).set_model_tag(a, p.required_str("name"), p.required_str("key"),
                             p.optional_str("value") or "")


def delete_registered_model_tag(s: State, a: Actor, p: Params) -> None:
    _models(s).delete_model_tag(a, p.required_str("name"), p.required_str("key"))


# ---- aliases --------------------------------------------------------------------------------

def set_alias(s: State, a: Actor, p: Params) -> None:
    _models(s).set_alias(a, p.required_str("name"), p.required_str("alias"),
                         p.required_version())


def delete_alias(s: State, a: Actor, p: Params) -> None:
    _models(s).delete_alias(a, p.required_str("name"), p.required_str("alias"))


def get_by_alias(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return {"model_version": render.model_version(
        _models(s).get_version_by_alias(a, p.required_str("name"), p.required_str("alias")))}


# ---- model versions -------------------------------------------------------------------------

def _dependencies(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument("Parameter 'model_version_dependencies' must be a list.")
    return value


def create_model_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    source = p.required_str("source")
    lineage = Lineage(
        run_id=p.optional_str("run_id") or "", source=source,
        model_id=p.optional_str("model_id") or "",
        run_tracking_server_id=p.optional_str("run_tracking_server_id") or "",
        model_version_dependencies=_dependencies(p.raw("model_version_dependencies")))
    version = _models(s).create_version(a, p.required_str("name"), source,
                                        p.optional_str("description"), lineage, p.tags())
    return {"model_version": render.model_version(version)}


def finalize_model_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    # Databricks requires a signature; the client checks it, and finalize checks it again on
    # the stored files (UcModelService.require_signature).
    version = _models(s).finalize_version(a, p.required_str("name"), p.required_version())
    return {"model_version": render.model_version(version)}


def get_model_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return {"model_version": render.model_version(
        _models(s).get_version(a, p.required_str("name"), p.required_version()))}


def update_model_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return {"model_version": render.model_version(_models(s).update_version(
        a, p.required_str("name"), p.required_version(), p.optional_str("description")))}


def delete_model_version(s: State, a: Actor, p: Params) -> None:
    _models(s).delete_version(a, p.required_str("name"), p.required_version())


def search_model_versions(s: State, a: Actor, p: Params) -> dict[str, Any]:
    match = _NAME_FILTER.match(p.optional_str("filter") or "")
    if not match:
        raise InvalidArgument(
            "Unity Catalog model version search requires a filter of the form "
            "\"name='<catalog>.<schema>.<model>'\".")
    page = _models(s).list_versions(a, match["name"], p.optional_int("max_results"),
                                    p.optional_str("page_token"))
    body: dict[str, Any] = {"model_versions": [render.model_version(v) for v in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def get_download_uri(s: State, a: Actor, p: Params) -> dict[str, Any]:
    version = _models(s).get_version(a, p.required_str("name"), p.required_version())
    return {"artifact_uri": version.storage_location}


def set_version_tag(s: State, a: Actor, p: Params) -> None:
    _models(s).set_version_tag(a, p.required_str("name"), p.required_version(),
                               p.required_str("key"), p.optional_str("value") or "")


def delete_version_tag(s: State, a: Actor, p: Params) -> None:
    _models(s).delete_version_tag(a, p.required_str("name"), p.required_version(),
                                  p.required_str("key"))


def temporary_credentials(s: State, a: Actor, p: Params) -> dict[str, Any]:
    operation = p.required_str("operation")
    name, number = p.required_str("name"), p.required_version()
    if operation == _READ_WRITE:
        _models(s).writable_location(a, name, number)
    elif operation == _READ:
        version = _models(s).get_version(a, name, number)
        if version.status is VersionStatus.FAILED_REGISTRATION:
            raise InvalidArgument(f"Model version {version.full_name}/{version.version} "
                                  "failed registration; it has no files.")
    else:
        raise InvalidArgument(f"Invalid operation '{operation}': use {_READ_WRITE} or {_READ}.")
    # DEFAULT_STORAGE: the client moves files through Modelyard's signed URLs (fs/*).
    ttl = _files(s).url_ttl
    return {"credentials": {"storage_mode": "DEFAULT_STORAGE",
                            "expiration_time": now_ms() + ttl * 1000}}


def sdk_artifact_repo_enabled(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return {"is_databricks_sdk_models_artifact_repository_enabled": False}


def emit_lineage(s: State, a: Actor, p: Params) -> dict[str, Any]:
    """What mlflow sends when a consumer loads a version (EmitModelVersionLineageRequest):
    recorded on the version (its `lineage_events`), and answered with them."""
    info = p.raw("model_version_lineage_info") or {}
    securable = p.raw("securable")
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
    version = _models(s).emit_lineage(a, p.required_str("name"), p.required_version(), report)
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

    return endpoint
