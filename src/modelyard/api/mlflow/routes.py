"""The 21 registry endpoints of MLflow REST API 2.0, each a thin call into RegistryService."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.api.endpoint import Dialect, in_thread_when
from modelyard.api.mlflow import render
from modelyard.api.mlflow.errors import domain_error_response, error_response
from modelyard.api.mlflow.params import Params
from modelyard.services.context import Actor
from modelyard.services.registry import RegistryService

PREFIX = "/api/2.0/mlflow"
Handler = Callable[[RegistryService, Actor, Params], Any]


_DIALECT: Dialect[Params] = Dialect(
    read_params=Params.from_request,
    target=lambda request: request.app.state.registry,
    domain_error=domain_error_response,
    malformed_body=lambda message: error_response("MALFORMED_REQUEST", message, 400),
)


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    return _DIALECT.endpoint(handler)


def _may_be_unity_catalog(params: Params) -> bool:
    """Only a three-level name can be promoted into Unity Catalog (which copies files). Other
    calls stay on the event loop: handing each one to a thread cost ~15% of the server's CPU in
    the populate benchmark, and made them contend for SQLite's write lock with the loop's own
    writes."""
    name = params.raw("name")
    return not isinstance(name, str) or name.count(".") == 2


# ---- registered models ----------------------------------------------------------------------

def create_registered_model(registry: RegistryService, actor: Actor,
                            params: Params) -> dict[str, Any]:
    model = registry.create_registered_model(actor, params.required_str("name"), params.tags(),
                                             params.optional_str("description"))
    return {"registered_model": render.registered_model(model)}


def get_registered_model(registry: RegistryService, actor: Actor, params: Params) -> dict[str, Any]:
    return {"registered_model": render.registered_model(
        registry.get_registered_model(actor, params.required_str("name")))}


def rename_registered_model(registry: RegistryService, actor: Actor,
                            params: Params) -> dict[str, Any]:
    model = registry.rename_registered_model(actor, params.required_str("name"),
                                             params.required_str("new_name"))
    return {"registered_model": render.registered_model(model)}


def update_registered_model(registry: RegistryService, actor: Actor,
                            params: Params) -> dict[str, Any]:
    model = registry.update_registered_model(actor, params.required_str("name"),
                                             params.optional_str("description"))
    return {"registered_model": render.registered_model(model)}


def delete_registered_model(registry: RegistryService, actor: Actor, params: Params) -> None:
    registry.delete_registered_model(actor, params.required_str("name"))


def search_registered_models(registry: RegistryService, actor: Actor,
                             params: Params) -> dict[str, Any]:
    page = registry.search_registered_model_hits(actor, params.optional_str("filter"),
                                                 params.optional_int("max_results"),
                                                 params.str_list("order_by"),
                                                 params.optional_str("page_token"))
    body: dict[str, Any] = {"registered_models": [render.registered_model_hit(h)
                                                  for h in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def list_registered_models(registry: RegistryService, actor: Actor,
                           params: Params) -> dict[str, Any]:
    """`GET registered-models/list` (databricks-sdk `model_registry.list_models`): a search
    without filter or order."""
    page = registry.search_registered_model_hits(actor, None, params.optional_int("max_results"),
                                                 None, params.optional_str("page_token"))
    body: dict[str, Any] = {"registered_models": [render.registered_model_hit(h)
                                                  for h in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def get_latest_versions(registry: RegistryService, actor: Actor, params: Params) -> dict[str, Any]:
    versions = registry.get_latest_versions(actor, params.required_str("name"),
                                            params.str_list("stages"))
    return {"model_versions": [render.model_version(v) for v in versions]}


def set_registered_model_tag(registry: RegistryService, actor: Actor, params: Params) -> None:
    registry.set_registered_model_tag(actor, params.required_str("name"),
                                      params.required_str("key"),
                                      params.optional_str("value") or "")


def delete_registered_model_tag(registry: RegistryService, actor: Actor, params: Params) -> None:
    registry.delete_registered_model_tag(actor, params.required_str("name"),
                                         params.required_str("key"))


# ---- model versions -------------------------------------------------------------------------

@in_thread_when(_may_be_unity_catalog)
def create_model_version(registry: RegistryService, actor: Actor, params: Params) -> dict[str, Any]:
    version = registry.create_model_version(actor, params.required_str("name"),
                                            params.required_str("source"),
                                            run_id=params.optional_str("run_id"),
                                            tags=params.tags(),
                                            run_link=params.optional_str("run_link"),
                                            description=params.optional_str("description"),
                                            logged_model_id=params.optional_str("model_id"))
    return {"model_version": render.model_version(version)}


def get_model_version(registry: RegistryService, actor: Actor, params: Params) -> dict[str, Any]:
    version = registry.get_model_version(actor, params.required_str("name"),
                                         params.required_version())
    return {"model_version": render.model_version(version)}


def update_model_version(registry: RegistryService, actor: Actor, params: Params) -> dict[str, Any]:
    version = registry.update_model_version(actor, params.required_str("name"),
                                            params.required_version(),
                                            params.optional_str("description"))
    return {"model_version": render.model_version(version)}


def transition_model_version_stage(registry: RegistryService, actor: Actor,
                                   params: Params) -> dict[str, Any]:
    version = registry.transition_model_version_stage(actor, params.required_str("name"),
                                                      params.required_version(),
                                                      params.required_str("stage"),
                                                      params.optional_bool(
                                                          "archive_existing_versions"))
    return {"model_version": render.model_version(version)}


def delete_model_version(registry: RegistryService, actor: Actor, params: Params) -> None:
    registry.delete_model_version(actor, params.required_str("name"), params.required_version())


def search_model_versions(registry: RegistryService, actor: Actor,
                          params: Params) -> dict[str, Any]:
    page = registry.search_model_versions(actor, params.optional_str("filter"),
                                          params.optional_int("max_results"),
                                          params.str_list("order_by"),
                                          params.optional_str("page_token"))
    body: dict[str, Any] = {"model_versions": [render.model_version(v) for v in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def get_model_version_download_uri(registry: RegistryService, actor: Actor,
                                   params: Params) -> dict[str, Any]:
    return {"artifact_uri": registry.get_model_version_download_uri(
        actor, params.required_str("name"), params.required_version())}


def set_model_version_tag(registry: RegistryService, actor: Actor, params: Params) -> None:
    registry.set_model_version_tag(actor, params.required_str("name"), params.required_version(),
                                   params.required_str("key"), params.optional_str("value") or "")


def delete_model_version_tag(registry: RegistryService, actor: Actor, params: Params) -> None:
    registry.delete_model_version_tag(actor, params.required_str("name"), params.required_version(),
                                      params.required_str("key"))


# ---- aliases --------------------------------------------------------------------------------

def set_registered_model_alias(registry: RegistryService, actor: Actor, params: Params) -> None:
    registry.set_registered_model_alias(actor, params.required_str("name"),
                                        params.required_str("alias"), params.required_version())


def delete_registered_model_alias(registry: RegistryService, actor: Actor, params: Params) -> None:
    registry.delete_registered_model_alias(actor, params.required_str("name"),
                                           params.required_str("alias"))


def get_model_version_by_alias(registry: RegistryService, actor: Actor,
                               params: Params) -> dict[str, Any]:
    version = registry.get_model_version_by_alias(actor, params.required_str("name"),
                                                  params.required_str("alias"))
    return {"model_version": render.model_version(version)}


_ALIAS_BY_METHOD = {"GET": get_model_version_by_alias, "POST": set_registered_model_alias,
                    "DELETE": delete_registered_model_alias}


_TABLE: list[tuple[str, list[str], Handler]] = [
    ("/registered-models/create", ["POST"], create_registered_model),
    ("/registered-models/rename", ["POST"], rename_registered_model),
    ("/registered-models/update", ["PATCH"], update_registered_model),
    ("/registered-models/delete", ["DELETE"], delete_registered_model),
    ("/registered-models/get", ["GET"], get_registered_model),
    ("/registered-models/search", ["GET"], search_registered_models),
    ("/registered-models/list", ["GET"], list_registered_models),
    ("/registered-models/get-latest-versions", ["POST", "GET"], get_latest_versions),
    ("/registered-models/set-tag", ["POST"], set_registered_model_tag),
    ("/registered-models/delete-tag", ["DELETE"], delete_registered_model_tag),
    ("/model-versions/create", ["POST"], create_model_version),
    ("/model-versions/update", ["PATCH"], update_model_version),
    ("/model-versions/transition-stage", ["POST"], transition_model_version_stage),
    ("/model-versions/delete", ["DELETE"], delete_model_version),
    ("/model-versions/get", ["GET"], get_model_version),
    ("/model-versions/search", ["GET"], search_model_versions),
    ("/model-versions/get-download-uri", ["GET"], get_model_version_download_uri),
    ("/model-versions/set-tag", ["POST"], set_model_version_tag),
    ("/model-versions/delete-tag", ["DELETE"], delete_model_version_tag),
]


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = [
        Route(PREFIX + path, _endpoint(handler), methods=methods)
        for path, methods, handler in _TABLE
    ]
    table.extend(
        Route(PREFIX + "/registered-models/alias", _endpoint(handler), methods=[method])
        for method, handler in _ALIAS_BY_METHOD.items()
    )
    return table
