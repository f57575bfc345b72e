"""Databricks' entity tag assignments, `/api/2.1/unity-catalog/entity-tag-assignments`, for
catalogs, schemas, registered models and model versions (entity name `cat.sch.model.VERSION`).

    POST   /entity-tag-assignments                              {entity_type, entity_name,
                                                                  tag_key, tag_value}
    GET    /entity-tag-assignments/{type}/{name}/tags           -> {tag_assignments: [...]}
    GET    /entity-tag-assignments/{type}/{name}/tags/{key}
    PATCH  /entity-tag-assignments/{type}/{name}/tags/{key}     {tag_value}
    DELETE /entity-tag-assignments/{type}/{name}/tags/{key}
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import State
from starlette.routing import BaseRoute, Route

from modelyard.api.unity_catalog.params import Params
from modelyard.api.unity_catalog.routes import (
    PREFIX,
    Handler,
    catalog_service,
    model_service,
    uc_endpoint,
)
from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.domain.numbers import ascii_int
from modelyard.services.context import Actor

_TYPES = {"catalogs": "catalog", "catalog": "catalog", "schemas": "schema", "schema": "schema",
          "registered_models": "registered_model", "registered_model": "registered_model",
          "model_versions": "model_version", "model_version": "model_version",
          # mlflow's native UC store files models under FUNCTION, as Databricks' grants do.
          "function": "registered_model"}


def _kind(entity_type: str) -> str:
    try:
        return _TYPES[entity_type.lower()]
    except KeyError:
        raise InvalidArgument(
            f"Unsupported entity_type '{entity_type}': use catalogs, schemas, "
            "registered_models or model_versions.") from None


def _version_ref(entity_name: str) -> tuple[str, str]:
    model, _, version = entity_name.rpartition(".")
    if not model or ascii_int(version) is None:
        raise InvalidArgument(f"Invalid model version name '{entity_name}': "
                              "expected catalog.schema.model.VERSION.")
    return model, version


def _tags(state: State, actor: Actor, kind: str, name: str) -> dict[str, str]:
    if kind == "catalog":
        return catalog_service(state).get_catalog(actor, name).tags
    if kind == "schema":
        return catalog_service(state).get_schema(actor, name).tags
    if kind == "registered_model":
        return model_service(state).get_model(actor, name).tags
    return model_service(state).get_version(actor, *_version_ref(name)).tags


def _set(state: State, actor: Actor, kind: str, name: str, key: str, value: str) -> None:
    if kind in ("catalog", "schema"):
        catalog_service(state).set_tag(actor, kind, name, key, value)
    elif kind == "registered_model":
        model_service(state).set_model_tag(actor, name, key, value)
    else:
        model_service(state).set_version_tag(actor, *_version_ref(name), key, value)


def _render(entity_type: str, name: str, key: str, value: str) -> dict[str, Any]:
    return {"entity_type": entity_type, "entity_name": name, "tag_key": key,
            "tag_value": value, "source_type": "TAG_ASSIGNMENT_SOURCE_TYPE_UNSPECIFIED"}


def create_assignment(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    entity_type, name = params.required_str("entity_type"), params.required_str("entity_name")
    key, value = params.required_str("tag_key"), params.optional_str("tag_value") or ""
    _set(state, actor, _kind(entity_type), name, key, value)
    return _render(entity_type, name, key, value)


def update_assignment(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    entity_type, name, key = params.path_str(
        "type"), params.path_str("name"), params.path_str("key")
    kind = _kind(entity_type)
    if key not in _tags(state, actor, kind, name):
        raise NotFound(f"Tag '{key}' is not assigned to {name}.")
    value = params.optional_str("tag_value") or ""
    _set(state, actor, kind, name, key, value)
    return _render(entity_type, name, key, value)


def get_assignment(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    entity_type, name, key = params.path_str(
        "type"), params.path_str("name"), params.path_str("key")
    tags = _tags(state, actor, _kind(entity_type), name)
    if key not in tags:
        raise NotFound(f"Tag '{key}' is not assigned to {name}.")
    return _render(entity_type, name, key, tags[key])


def list_assignments(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    entity_type, name = params.path_str("type"), params.path_str("name")
    tags = _tags(state, actor, _kind(entity_type), name)
    return {"tag_assignments": [_render(entity_type, name, k, v) for k, v in tags.items()]}


def delete_assignment(state: State, actor: Actor, params: Params) -> None:
    entity_type, name, key = (params.path_str("type"), params.path_str("name"),
                              params.path_str("key"))
    _delete(state, actor, _kind(entity_type), name, key)


def _delete(state: State, actor: Actor, kind: str, name: str, key: str) -> None:
    if kind in ("catalog", "schema"):
        catalog_service(state).delete_tag(actor, kind, name, key)
    elif kind == "registered_model":
        model_service(state).delete_model_tag(actor, name, key)
    else:
        model_service(state).delete_version_tag(actor, *_version_ref(name), key)


def _changes(params: Params) -> tuple[list[tuple[str, str]], list[str]]:
    """`{"changes": {"add_tags": [{key, value}], "remove": [key]}}` of the native store."""
    changes = params.body.get("changes") or {}
    if not isinstance(changes, dict):
        raise InvalidArgument("'changes' must be an object with 'add_tags' and 'remove'.")
    add, remove = changes.get("add_tags") or [], changes.get("remove") or []
    if not isinstance(add, list) or not all(isinstance(t, dict) and isinstance(t.get("key"), str)
                                            for t in add):
        raise InvalidArgument("'changes.add_tags' must be a list of {key, value} objects.")
    if not isinstance(remove, list) or not all(isinstance(k, str) for k in remove):
        raise InvalidArgument("'changes.remove' must be a list of tag keys.")
    return [(t["key"], str(t.get("value") or "")) for t in add], list(remove)


def update_securable_tags(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    """PATCH /securable-tags/{type}/{name}: mlflow's native UC store (MLFLOW_ENABLE_UC_NATIVE_
    MODEL_REGISTRY) sets and deletes model tags through it."""
    kind = _kind(params.path_str("securable_type"))
    if kind == "model_version":
        raise InvalidArgument("Model version tags go through /subentity-tags/.")
    name = params.path_str("securable_full_name")
    add, remove = _changes(params)
    for key, value in add:
        _set(state, actor, kind, name, key, value)
    for key in remove:
        _delete(state, actor, kind, name, key)
    return {}


def update_subentity_tags(state: State, actor: Actor, params: Params) -> dict[str, Any]:
    """PATCH /subentity-tags/{type}/{model}/{version}: a model version's tags."""
    if _kind(params.path_str("securable_type")) != "registered_model":
        raise InvalidArgument("Only a model's versions have tags as sub-entities.")
    name = f"{params.path_str('securable_full_name')}.{params.path_str('subentity_name')}"
    add, remove = _changes(params)
    for key, value in add:
        _set(state, actor, "model_version", name, key, value)
    for key in remove:
        _delete(state, actor, "model_version", name, key)
    return {}


_BASE = PREFIX + "/entity-tag-assignments"
_TABLE: list[tuple[str, str, Handler]] = [
    ("", "POST", create_assignment),
    ("/{type}/{name}/tags", "GET", list_assignments),
    ("/{type}/{name}/tags/{key}", "GET", get_assignment),
    ("/{type}/{name}/tags/{key}", "PATCH", update_assignment),
    ("/{type}/{name}/tags/{key}", "DELETE", delete_assignment),
]


def routes() -> list[BaseRoute]:
    return [*(Route(_BASE + path, uc_endpoint(handler), methods=[method])
              for path, method, handler in _TABLE),
            Route(PREFIX + "/securable-tags/{securable_type}/{securable_full_name}",
                  uc_endpoint(update_securable_tags), methods=["PATCH"]),
            Route(PREFIX + "/subentity-tags/{securable_type}/{securable_full_name}/"
                  "{subentity_name}", uc_endpoint(update_subentity_tags), methods=["PATCH"])]
