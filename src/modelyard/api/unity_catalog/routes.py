"""Unity Catalog REST 2.1 endpoints: catalogs, schemas, models, versions, aliases, credentials.

Each handler parses, calls CatalogService or UcModelService, and renders; deletes answer `{}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.api.endpoint import Dialect
from modelyard.api.unity_catalog import render
from modelyard.api.unity_catalog.errors import domain_error_response, error_response
from modelyard.api.unity_catalog.params import Params
from modelyard.domain.catalog import Lineage
from modelyard.domain.errors import InvalidArgument
from modelyard.services.catalogs import CatalogService
from modelyard.services.context import Actor
from modelyard.services.uc_models import UcModelService

PREFIX = "/api/2.1/unity-catalog"
Handler = Callable[[State, Actor, Params], Any]


#: Handlers that touch file storage (hashing, deleting, creating directories, asking S3 for
#: credentials) run in a worker thread; the rest are short database calls, run inline as in the
#: other dialects, which saves the thread hand-off on every read.
_BLOCKING: set[str] = {"finalize_version", "delete_version", "delete_model", "delete_schema",
                       "delete_catalog", "create_version", "temporary_credentials"}


_DIALECT: Dialect[Params] = Dialect(
    read_params=Params.from_request,
    target=lambda request: request.app.state,
    domain_error=domain_error_response,
    malformed_body=lambda message: error_response("INVALID_ARGUMENT", message, 400),
)


def uc_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    return _DIALECT.endpoint(handler, blocking=handler.__name__ in _BLOCKING)


def catalog_service(state: State) -> CatalogService:
    service: CatalogService = state.uc_catalogs
    return service


def model_service(state: State) -> UcModelService:
    service: UcModelService = state.uc_models
    return service


def _page(key: str, items: list[dict[str, Any]], token: str) -> dict[str, Any]:
    body: dict[str, Any] = {key: items}
    if token:
        body["next_page_token"] = token
    return body


# ---- the metastore --------------------------------------------------------------------------

def metastore_summary(s: State, a: Actor, p: Params) -> dict[str, Any]:
    """unitycatalog-client `MetastoresApi.summary`, databricks-sdk `metastores.summary`."""
    return {"metastore_id": catalog_service(s).metastore_id(), "name": "metastore"}


# ---- catalogs -------------------------------------------------------------------------------

def create_catalog(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.catalog(catalog_service(s).create_catalog(
        a, p.required_str("name"), p.optional_str("comment"), p.optional_dict("properties"),
        p.optional_str("storage_root"), p.tags()))


def list_catalogs(s: State, a: Actor, p: Params) -> dict[str, Any]:
    page = catalog_service(s).list_catalogs(a, p.optional_int("max_results"),
                                      p.optional_str("page_token"))
    return _page("catalogs", [render.catalog(c) for c in page.items], page.next_page_token)


def get_catalog(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.catalog(catalog_service(s).get_catalog(a, p.path_str("name")))


def update_catalog(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.catalog(catalog_service(s).update_catalog(
        a, p.path_str("name"), p.optional_str("comment"), p.optional_dict("properties"),
        p.optional_str("new_name"), p.optional_str("owner")))


def delete_catalog(s: State, a: Actor, p: Params) -> None:
    catalog_service(s).delete_catalog(a, p.path_str("name"), p.flag("force"))


# ---- schemas --------------------------------------------------------------------------------

def create_schema(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.schema(catalog_service(s).create_schema(
        a, p.required_str("catalog_name"), p.required_str("name"), p.optional_str("comment"),
        p.optional_dict("properties"), p.optional_str("storage_root"), p.tags()))


def list_schemas(s: State, a: Actor, p: Params) -> dict[str, Any]:
    page = catalog_service(s).list_schemas(a, p.required_str("catalog_name"),
                                     p.optional_int("max_results"),
                                     p.optional_str("page_token"))
    return _page("schemas", [render.schema(x) for x in page.items], page.next_page_token)


def get_schema(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.schema(catalog_service(s).get_schema(a, p.path_str("full_name")))


def update_schema(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.schema(catalog_service(s).update_schema(
        a, p.path_str("full_name"), p.optional_str("comment"), p.optional_dict("properties"),
        p.optional_str("new_name"), p.optional_str("owner")))


def delete_schema(s: State, a: Actor, p: Params) -> None:
    catalog_service(s).delete_schema(a, p.path_str("full_name"), p.flag("force"))


# ---- registered models ----------------------------------------------------------------------

def create_model(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.model(model_service(s).create_model(
        a, p.required_str("catalog_name"), p.required_str("schema_name"),
        p.required_str("name"), p.optional_str("comment"), p.tags(), p.optional_str("owner")))


def list_models(s: State, a: Actor, p: Params) -> dict[str, Any]:
    page = model_service(s).list_models(a, p.optional_str("catalog_name"),
                                  p.optional_str("schema_name"), p.optional_int("max_results"),
                                  p.optional_str("page_token"))
    return _page("registered_models", [render.model(m) for m in page.items],
                 page.next_page_token)


def get_model(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.model(model_service(s).get_model(a, p.path_str("full_name")),
                        p.flag("include_aliases", True))


def update_model(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.model(model_service(s).update_model(
        a, p.path_str("full_name"), p.optional_str("comment"), p.optional_str("new_name"),
        p.optional_str("owner")))


def delete_model(s: State, a: Actor, p: Params) -> None:
    model_service(s).delete_model(a, p.path_str("full_name"))


# ---- model versions -------------------------------------------------------------------------

def _dependencies(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("dependencies") or []
    if not isinstance(value, list):
        raise InvalidArgument("Parameter 'model_version_dependencies' must be a list.")
    return value


def create_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    full_name = ".".join((p.required_str("catalog_name"), p.required_str("schema_name"),
                          p.required_str("model_name")))
    datasets = p.body.get("datasets") or []
    if not isinstance(datasets, list):
        raise InvalidArgument("Parameter 'datasets' must be a list.")
    lineage = Lineage(
        run_id=p.optional_str("run_id") or "", source=p.required_str("source"),
        model_id=p.optional_str("model_id") or "",
        run_tracking_server_id=p.optional_str("run_tracking_server_id") or "",
        run_workspace_id=p.optional_int("run_workspace_id"),
        model_version_dependencies=_dependencies(p.body.get("model_version_dependencies")),
        datasets=datasets)
    return render.version(model_service(s).create_version(
        a, full_name, lineage.source, p.optional_str("comment"), lineage, p.tags()))


def list_versions(s: State, a: Actor, p: Params) -> dict[str, Any]:
    page = model_service(s).list_versions(a, p.path_str("full_name"), p.optional_int("max_results"),
                                    p.optional_str("page_token"))
    return _page("model_versions", [render.version(v) for v in page.items],
                 page.next_page_token)


def get_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.version(model_service(s).get_version(a, p.path_str("full_name"),
                                                 p.path_str("version")),
                          p.flag("include_aliases", True))


def update_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.version(model_service(s).update_version(
        a, p.path_str("full_name"), p.path_str("version"), p.optional_str("comment")))


def delete_version(s: State, a: Actor, p: Params) -> None:
    model_service(s).delete_version(a, p.path_str("full_name"), p.path_str("version"))


def finalize_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    # UC OSS changes the version named in the body; we act on the path (the one authorized)
    # and refuse a body that names another.
    full_name, version = p.path_str("full_name"), p.path_str("version")
    body_name, body_version = p.body.get("full_name"), p.body.get("version")
    if (body_name is not None and str(body_name).lower() != full_name.lower()) or (
            body_version is not None and str(body_version) != version):
        raise InvalidArgument("The body's full_name and version must match the path.")
    return render.version(model_service(s).finalize_version(a, full_name, version))


# ---- aliases --------------------------------------------------------------------------------

def set_alias(s: State, a: Actor, p: Params) -> dict[str, Any]:
    version = p.get("version_num")
    if version is None:
        raise InvalidArgument("Parameter 'version_num' is required.")
    full_name = p.path_str("full_name")
    alias = model_service(s).set_alias(a, full_name, p.path_str("alias"), version)
    return render.alias(alias, model_service(s).get_model(a, full_name).full_name)


def delete_alias(s: State, a: Actor, p: Params) -> None:
    model_service(s).delete_alias(a, p.path_str("full_name"), p.path_str("alias"))


def get_by_alias(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render.version(model_service(s).get_version_by_alias(a, p.path_str("full_name"),
                                                          p.path_str("alias")),
                          p.flag("include_aliases", True))


# ---- credentials ----------------------------------------------------------------------------

def temporary_credentials(s: State, a: Actor, p: Params) -> dict[str, Any]:
    version = p.get("version")
    if version is None:
        raise InvalidArgument("Parameter 'version' is required.")
    return render.credentials(model_service(s).temporary_credentials(
        a, p.required_str("catalog_name"), p.required_str("schema_name"),
        p.required_str("model_name"), version, p.required_str("operation")))


_TABLE: list[tuple[str, str, Handler]] = [
    ("/metastore_summary", "GET", metastore_summary),
    ("/catalogs", "POST", create_catalog),
    ("/catalogs", "GET", list_catalogs),
    ("/catalogs/{name}", "GET", get_catalog),
    ("/catalogs/{name}", "PATCH", update_catalog),
    ("/catalogs/{name}", "DELETE", delete_catalog),
    ("/schemas", "POST", create_schema),
    ("/schemas", "GET", list_schemas),
    ("/schemas/{full_name}", "GET", get_schema),
    ("/schemas/{full_name}", "PATCH", update_schema),
    ("/schemas/{full_name}", "DELETE", delete_schema),
    ("/models", "POST", create_model),
    ("/models", "GET", list_models),
    ("/models/versions", "POST", create_version),
    ("/models/{full_name}", "GET", get_model),
    ("/models/{full_name}", "PATCH", update_model),
    ("/models/{full_name}", "DELETE", delete_model),
    ("/models/{full_name}/versions", "GET", list_versions),
    ("/models/{full_name}/versions/{version}", "GET", get_version),
    ("/models/{full_name}/versions/{version}", "PATCH", update_version),
    ("/models/{full_name}/versions/{version}", "DELETE", delete_version),
    ("/models/{full_name}/versions/{version}/finalize", "PATCH", finalize_version),
    ("/models/{full_name}/aliases/{alias}", "PUT", set_alias),
    ("/models/{full_name}/aliases/{alias}", "DELETE", delete_alias),
    ("/models/{full_name}/aliases/{alias}", "GET", get_by_alias),
    ("/temporary-model-version-credentials", "POST", temporary_credentials),
]


def routes() -> list[BaseRoute]:
    return [Route(PREFIX + path, uc_endpoint(handler), methods=[method])
            for path, method, handler in _TABLE]
