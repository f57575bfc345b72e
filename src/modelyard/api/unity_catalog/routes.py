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

from modelyard.api.endpoint import Dialect, in_thread
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


_DIALECT: Dialect[Params] = Dialect(
    read_params=Params.from_request,
    target=lambda request: request.app.state,
    domain_error=domain_error_response,
    malformed_body=lambda message: error_response("INVALID_ARGUMENT", message, 400),
    query_methods=frozenset({"GET", "DELETE"}),
)


def uc_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    return _DIALECT.endpoint(handler)


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

def create_catalog(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.catalog(
        catalog_service(state).create_catalog(actor, params.required_str("name"),
                                              params.optional_str("comment"),
                                              params.optional_dict("properties"),
                                              params.optional_str("storage_root"), params.tags()))


def list_catalogs(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    page = catalog_service(state).list_catalogs(actor, params.optional_int("max_results"),
                                                params.optional_str("page_token"))
    return _page("catalogs", [render.catalog(c) for c in page.items], page.next_page_token)


def get_catalog(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.catalog(catalog_service(state).get_catalog(actor, params.path_str("name")))


def update_catalog(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.catalog(
        catalog_service(state).update_catalog(actor, params.path_str("name"),
                                              params.optional_str("comment"),
                                              params.optional_dict("properties"),
                                              params.optional_str("new_name"),
                                              params.optional_str("owner")))


@in_thread
def delete_catalog(state: State, actor: Actor, params: Params) -> None:
    catalog_service(state).delete_catalog(actor, params.path_str("name"), params.flag("force"))


# ---- schemas --------------------------------------------------------------------------------

def create_schema(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.schema(
        catalog_service(state).create_schema(actor, params.required_str("catalog_name"),
                                             params.required_str("name"),
                                             params.optional_str("comment"),
                                             params.optional_dict("properties"),
                                             params.optional_str("storage_root"), params.tags()))


def list_schemas(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    page = catalog_service(state).list_schemas(actor, params.required_str("catalog_name"),
                                               params.optional_int("max_results"),
                                               params.optional_str("page_token"))
    return _page("schemas", [render.schema(x) for x in page.items], page.next_page_token)


def get_schema(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.schema(catalog_service(state).get_schema(actor, params.path_str("full_name")))


def update_schema(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.schema(
        catalog_service(state).update_schema(actor, params.path_str("full_name"),
                                             params.optional_str("comment"),
                                             params.optional_dict("properties"),
                                             params.optional_str("new_name"),
                                             params.optional_str("owner")))


@in_thread
def delete_schema(state: State, actor: Actor, params: Params) -> None:
    catalog_service(state).delete_schema(actor, params.path_str("full_name"), params.flag("force"))


# ---- registered models ----------------------------------------------------------------------

def create_model(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.model(model_service(state).create_model(actor,
                                                          params.required_str("catalog_name"),
                                                          params.required_str("schema_name"),
                                                          params.required_str("name"),
                                                          params.optional_str("comment"),
                                                          params.tags(),
                                                          params.optional_str("owner")))


def list_models(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    page = model_service(state).list_models(actor, params.optional_str("catalog_name"),
                                            params.optional_str("schema_name"),
                                            params.optional_int("max_results"),
                                            params.optional_str("page_token"))
    return _page("registered_models", [render.model(m) for m in page.items],
                 page.next_page_token)


def get_model(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.model(model_service(state).get_model(actor, params.path_str("full_name")),
                        params.flag("include_aliases", True))


def update_model(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.model(model_service(state).update_model(actor, params.path_str("full_name"),
                                                          params.optional_str("comment"),
                                                          params.optional_str("new_name"),
                                                          params.optional_str("owner")))


@in_thread
def delete_model(state: State, actor: Actor, params: Params) -> None:
    model_service(state).delete_model(actor, params.path_str("full_name"))


# ---- model versions -------------------------------------------------------------------------

def _dependencies(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("dependencies") or []
    if not isinstance(value, list):
        raise InvalidArgument("Parameter 'model_version_dependencies' must be a list.")
    return value


@in_thread
def create_version(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    full_name = ".".join((params.required_str("catalog_name"), params.required_str("schema_name"),
                          params.required_str("model_name")))
    datasets = params.body.get("datasets") or []
    if not isinstance(datasets, list):
        raise InvalidArgument("Parameter 'datasets' must be a list.")
    lineage = Lineage(run_id=params.optional_str("run_id") or "",
                      source=params.required_str("source"),
                      model_id=params.optional_str("model_id") or "",
                      run_tracking_server_id=params.optional_str("run_tracking_server_id") or "",
                      run_workspace_id=params.optional_int("run_workspace_id"),
                      model_version_dependencies=_dependencies(
                          params.body.get("model_version_dependencies")), datasets=datasets)
    return render.version(
        model_service(state).create_version(actor, full_name, lineage.source,
                                            params.optional_str("comment"), lineage, params.tags()))


def list_versions(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    page = model_service(state).list_versions(actor, params.path_str("full_name"),
                                              params.optional_int("max_results"),
                                              params.optional_str("page_token"))
    return _page("model_versions", [render.version(v) for v in page.items],
                 page.next_page_token)


def get_version(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.version(model_service(state).get_version(actor, params.path_str("full_name"),
                                                           params.path_str("version")),
                          params.flag("include_aliases", True))


def update_version(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.version(
        model_service(state).update_version(actor, params.path_str("full_name"),
                                            params.path_str("version"),
                                            params.optional_str("comment")))


@in_thread
def delete_version(state: State, actor: Actor, params: Params) -> None:
    model_service(state).delete_version(actor, params.path_str("full_name"),
                                        params.path_str("version"))


@in_thread
def finalize_version(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    # UC OSS changes the version named in the body; we act on the path (the one authorized)
    # and refuse a body that names another.
    full_name, version = params.path_str("full_name"), params.path_str("version")
    body_name, body_version = params.body.get("full_name"), params.body.get("version")
    if (body_name is not None and str(body_name).lower() != full_name.lower()) or (
            body_version is not None and str(body_version) != version):
        raise InvalidArgument("The body's full_name and version must match the path.")
    return render.version(model_service(state).finalize_version(actor, full_name, version))


# ---- aliases --------------------------------------------------------------------------------

def set_alias(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    version = params.get("version_num")
    if version is None:
        raise InvalidArgument("Parameter 'version_num' is required.")
    full_name = params.path_str("full_name")
    alias = model_service(state).set_alias(actor, full_name, params.path_str("alias"), version)
    return render.alias(alias, model_service(state).get_model(actor, full_name).full_name)


def delete_alias(state: State, actor: Actor, params: Params) -> None:
    model_service(state).delete_alias(actor, params.path_str("full_name"), params.path_str("alias"))


def get_by_alias(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    return render.version(
        model_service(state).get_version_by_alias(actor, params.path_str("full_name"),
                                                  params.path_str("alias")),
        params.flag("include_aliases", True))


# ---- credentials ----------------------------------------------------------------------------

@in_thread
def temporary_credentials(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    version = params.get("version")
    if version is None:
        raise InvalidArgument("Parameter 'version' is required.")
    return render.credentials(
        model_service(state).temporary_credentials(actor, params.required_str("catalog_name"),
                                                   params.required_str("schema_name"),
                                                   params.required_str("model_name"), version,
                                                   params.required_str("operation")))


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
