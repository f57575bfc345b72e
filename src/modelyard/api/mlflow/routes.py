"""The 21 registry endpoints of MLflow REST API 2.0, each a thin call into RegistryService."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.api.endpoint import Dialect
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
    if handler in _IN_THREAD:
        return _DIALECT.endpoint(handler, blocking=_may_be_unity_catalog)
    return _DIALECT.endpoint(handler)


# ---- registered models ----------------------------------------------------------------------

def create_registered_model(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    model = s.create_registered_model(a, p.required_str("name"), p.tags(),
                                      p.optional_str("description"))
    return {"registered_model": render.registered_model(model)}


def get_registered_model(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    return {"registered_model": render.registered_model(
        s.get_registered_model(a, p.required_str("name")))}


def rename_registered_model(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    model = s.rename_registered_model(a, p.required_str("name"), p.required_str("new_name"))
    return {"registered_model": render.registered_model(model)}


def update_registered_model(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    model = s.update_registered_model(a, p.required_str("name"), p.optional_str("description"))
    return {"registered_model": render.registered_model(model)}


def delete_registered_model(s: RegistryService, a: Actor, p: Params) -> None:
    s.delete_registered_model(a, p.required_str("name"))


def search_registered_models(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    page = s.search_registered_model_hits(a, p.optional_str("filter"),
                                          p.optional_int("max_results"), p.str_list("order_by"),
                                          p.optional_str("page_token"))
    body: dict[str, Any] = {"registered_models": [render.registered_model_hit(h)
                                                  for h in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def list_registered_models(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    """`GET registered-models/list` (databricks-sdk `model_registry.list_models`): a search
    without filter or order."""
    page = s.search_registered_model_hits(a, None, p.optional_int("max_results"), None,
                                          p.optional_str("page_token"))
    body: dict[str, Any] = {"registered_models": [render.registered_model_hit(h)
                                                  for h in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def get_latest_versions(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    versions = s.get_latest_versions(a, p.required_str("name"), p.str_list("stages"))
    return {"model_versions": [render.model_version(v) for v in versions]}


def set_registered_model_tag(s: RegistryService, a: Actor, p: Params) -> None:
    s.set_registered_model_tag(a, p.required_str("name"), p.required_str("key"),
                               p.optional_str("value") or "")


def delete_registered_model_tag(s: RegistryService, a: Actor, p: Params) -> None:
    s.delete_registered_model_tag(a, p.required_str("name"), p.required_str("key"))


# ---- model versions -------------------------------------------------------------------------

def create_model_version(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    version = s.create_model_version(
        a, p.required_str("name"), p.required_str("source"), run_id=p.optional_str("run_id"),
        tags=p.tags(), run_link=p.optional_str("run_link"),
        description=p.optional_str("description"), logged_model_id=p.optional_str("model_id"),
    )
    return {"model_version": render.model_version(version)}


def get_model_version(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    version = s.get_model_version(a, p.required_str("name"), p.required_version())
    return {"model_version": render.model_version(version)}


def update_model_version(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    version = s.update_model_version(a, p.required_str("name"), p.required_version(),
                                     p.optional_str("description"))
    return {"model_version": render.model_version(version)}


def transition_model_version_stage(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    version = s.transition_model_version_stage(
        a, p.required_str("name"), p.required_version(), p.required_str("stage"),
        p.optional_bool("archive_existing_versions"))
    return {"model_version": render.model_version(version)}


def delete_model_version(s: RegistryService, a: Actor, p: Params) -> None:
    s.delete_model_version(a, p.required_str("name"), p.required_version())


def search_model_versions(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    page = s.search_model_versions(a, p.optional_str("filter"), p.optional_int("max_results"),
                                   p.str_list("order_by"), p.optional_str("page_token"))
    body: dict[str, Any] = {"model_versions": [render.model_version(v) for v in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def get_model_version_download_uri(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    return {"artifact_uri": s.get_model_version_download_uri(
        a, p.required_str("name"), p.required_version())}


def set_model_version_tag(s: RegistryService, a: Actor, p: Params) -> None:
    s.set_model_version_tag(a, p.required_str("name"), p.required_version(),
                            p.required_str("key"), p.optional_str("value") or "")


def delete_model_version_tag(s: RegistryService, a: Actor, p: Params) -> None:
    s.delete_model_version_tag(a, p.required_str("name"), p.required_version(),
                               p.required_str("key"))


# ---- aliases --------------------------------------------------------------------------------

def set_registered_model_alias(s: RegistryService, a: Actor, p: Params) -> None:
    s.set_registered_model_alias(a, p.required_str("name"), p.required_str("alias"),
                                 p.required_version())


def delete_registered_model_alias(s: RegistryService, a: Actor, p: Params) -> None:
    s.delete_registered_model_alias(a, p.required_str("name"), p.required_str("alias"))


def get_model_version_by_alias(s: RegistryService, a: Actor, p: Params) -> dict[str, Any]:
    version = s.get_model_version_by_alias(a, p.required_str("name"), p.required_str("alias"))
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


#: Handlers that may block for long (a promotion into UC copies files): off the event loop.
_IN_THREAD: set[Handler] = {create_model_version}


def _may_be_unity_catalog(params: Params) -> bool:
    """Only a three-level name can be promoted into Unity Catalog. Other calls stay on the event
    loop: handing each one to a thread cost ~15% of the server's CPU in the populate benchmark,
    and made them contend for SQLite's write lock with the loop's own writes."""
    name = params.raw("name")
    return not isinstance(name, str) or name.count(".") == 2


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
