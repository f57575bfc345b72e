"""`/api/2.0/mlflow/unity-catalog/prompts…` and `/prompt-versions/links-to-…`: what mlflow's
`databricks-uc` registry (UcModelRegistryStore's prompt methods) calls for
`mlflow.genai.register_prompt("main.s.p", …)`, `load_prompt("prompts:/main.s.p@prod")`,
`set_prompt_alias`, `search_prompts` and the links of prompt versions to models, runs and
traces. Shapes: mlflow/protos/unity_catalog_prompt_messages.proto (timestamps as RFC 3339).

Errors as the client expects them: an existing prompt is ALREADY_EXISTS (register_prompt then
adds a version), a missing prompt, version or alias RESOURCE_DOES_NOT_EXIST (the client turns
it into None).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard.api.endpoint import Dialect
from modelyard.api.mlflow.errors import domain_error_response, error_response
from modelyard.api.mlflow.params import Params
from modelyard.domain.errors import AliasNotFound, AlreadyExists, InvalidArgument, ModelyardError
from modelyard.services.context import Actor
from modelyard.services.uc_prompts import Prompt, PromptVersion, UcPromptService

PREFIX = "/api/2.0/mlflow/unity-catalog"
Handler = Callable[[State, Actor, Params], Any]


def _error(error: ModelyardError) -> Response:
    if isinstance(error, AlreadyExists):
        return error_response("ALREADY_EXISTS", error.message, 409)
    if isinstance(error, AliasNotFound):
        return error_response("RESOURCE_DOES_NOT_EXIST", error.message, 404)
    return domain_error_response(error)


async def _read(request: Request) -> Params:
    return (await Params.from_request(request)).with_path(dict(request.path_params))


_DIALECT: Dialect[Params] = Dialect(
    read_params=_read,
    target=lambda request: request.app.state,
    domain_error=_error,
    malformed_body=lambda message: error_response("MALFORMED_REQUEST", message, 400),
)


def _prompts(state: State) -> UcPromptService:
    service: UcPromptService = state.uc_prompts
    return service


# ---- rendering ------------------------------------------------------------------------------

def _timestamp(ms: int) -> str:
    """google.protobuf.Timestamp in JSON: RFC 3339, UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def render_prompt(item: Prompt) -> dict[str, Any]:
    return {"name": item.full_name, "description": item.description,
            "creation_timestamp": _timestamp(item.created_at),
            "last_updated_timestamp": _timestamp(item.updated_at),
            "aliases": [{"alias": a.alias, "version": str(a.version)} for a in item.aliases],
            "tags": _tags(item.tags)}


def render_version(item: PromptVersion) -> dict[str, Any]:
    return {"name": item.full_name, "version": str(item.version), "template": item.template,
            "description": item.description,
            "creation_timestamp": _timestamp(item.created_at),
            "last_updated_timestamp": _timestamp(item.updated_at),
            "aliases": [{"alias": a, "version": str(item.version)} for a in item.aliases],
            "tags": _tags(item.tags)}


def _object(p: Params, name: str) -> dict[str, Any]:
    value = p.raw(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"Parameter '{name}' must be an object.")
    return value


def _object_tags(value: dict[str, Any]) -> dict[str, str]:
    return Params({"tags": value.get("tags")}).tags()


def _str(value: dict[str, Any], name: str) -> str | None:
    found = value.get(name)
    if found is not None and not isinstance(found, str):
        raise InvalidArgument(f"Parameter '{name}' must be a string.")
    return found


# ---- prompts --------------------------------------------------------------------------------

def create_prompt(s: State, a: Actor, p: Params) -> dict[str, Any]:
    prompt = _object(p, "prompt")
    name = p.optional_str("name") or _str(prompt, "name")
    if not name:
        raise InvalidArgument("Missing value for required parameter 'name'.")
    return render_prompt(_prompts(s).create(a, name, _str(prompt, "description"),
                                            _object_tags(prompt)))


def get_prompt(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render_prompt(_prompts(s).get(a, p.required_str("name")))


def update_prompt(s: State, a: Actor, p: Params) -> dict[str, Any]:
    prompt = _object(p, "prompt")
    return render_prompt(_prompts(s).update(a, p.required_str("name"),
                                            _str(prompt, "description")))


def delete_prompt(s: State, a: Actor, p: Params) -> None:
    _prompts(s).delete(a, p.required_str("name"))


def search_prompts(s: State, a: Actor, p: Params) -> dict[str, Any]:
    where = _object(p, "catalog_schema")
    catalog, schema = _str(where, "catalog_name"), _str(where, "schema_name")
    if not catalog or not schema:
        raise InvalidArgument("Searching prompts needs 'catalog_schema' with 'catalog_name' "
                              "and 'schema_name'.")
    if p.optional_str("filter"):
        raise InvalidArgument(
            f"Unsupported filter {p.optional_str('filter')!r}: prompts are searched by catalog "
            "and schema only (\"catalog = 'c' AND schema = 's'\").")
    page = _prompts(s).search(a, catalog, schema, p.optional_int("max_results"),
                              p.optional_str("page_token"))
    body: dict[str, Any] = {"prompts": [render_prompt(x) for x in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def set_prompt_tag(s: State, a: Actor, p: Params) -> None:
    _prompts(s).set_tag(a, p.required_str("name"), p.required_str("key"),
                        p.optional_str("value") or "")


def delete_prompt_tag(s: State, a: Actor, p: Params) -> None:
    _prompts(s).delete_tag(a, p.required_str("name"), p.required_str("key"))


# ---- versions -------------------------------------------------------------------------------

def create_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    version = _object(p, "prompt_version")
    return render_version(_prompts(s).create_version(
        a, p.required_str("name"), _str(version, "template") or "",
        _str(version, "description"), _object_tags(version)))


def get_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render_version(_prompts(s).get_version(a, p.required_str("name"),
                                                  p.required_version()))


def update_version(s: State, a: Actor, p: Params) -> dict[str, Any]:
    version = _object(p, "prompt_version")
    return render_version(_prompts(s).update_version(
        a, p.required_str("name"), p.required_version(), _str(version, "description")))


def delete_version(s: State, a: Actor, p: Params) -> None:
    _prompts(s).delete_version(a, p.required_str("name"), p.required_version())


def search_versions(s: State, a: Actor, p: Params) -> dict[str, Any]:
    page = _prompts(s).search_versions(a, p.required_str("name"),
                                       p.optional_int("max_results"),
                                       p.optional_str("page_token"))
    body: dict[str, Any] = {"prompt_versions": [render_version(v) for v in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def get_version_by_alias(s: State, a: Actor, p: Params) -> dict[str, Any]:
    return render_version(_prompts(s).get_version_by_alias(a, p.required_str("name"),
                                                           p.required_str("alias")))


def set_version_tag(s: State, a: Actor, p: Params) -> None:
    _prompts(s).set_version_tag(a, p.required_str("name"), p.required_version(),
                                p.required_str("key"), p.optional_str("value") or "")


def delete_version_tag(s: State, a: Actor, p: Params) -> None:
    _prompts(s).delete_version_tag(a, p.required_str("name"), p.required_version(),
                                   p.required_str("key"))


def set_alias(s: State, a: Actor, p: Params) -> None:
    _prompts(s).set_alias(a, p.required_str("name"), p.required_str("alias"),
                          p.required_version())


def delete_alias(s: State, a: Actor, p: Params) -> None:
    _prompts(s).delete_alias(a, p.required_str("name"), p.required_str("alias"))


# ---- links ----------------------------------------------------------------------------------

def _entries(p: Params) -> list[tuple[str, str]]:
    value = p.raw("prompt_versions")
    if not isinstance(value, list) or not value or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str)
            and isinstance(e.get("version"), str | int) for e in value):
        raise InvalidArgument("'prompt_versions' must be a list of {name, version} objects.")
    return [(e["name"], str(e["version"])) for e in value]


def _ids(p: Params, field: str) -> list[str]:
    value = p.raw(field)
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise InvalidArgument(f"'{field}' must be a list of ids.")
    return value


def link_to_models(s: State, a: Actor, p: Params) -> None:
    _prompts(s).link(a, _entries(p), "model", _ids(p, "model_ids"))


def link_to_runs(s: State, a: Actor, p: Params) -> None:
    _prompts(s).link(a, _entries(p), "run", _ids(p, "run_ids"))


def link_to_traces(s: State, a: Actor, p: Params) -> None:
    _prompts(s).link(a, _entries(p), "trace", _ids(p, "trace_ids"))


_TABLE: list[tuple[str, str, Handler]] = [
    ("/prompts", "POST", create_prompt),
    ("/prompts/search", "POST", search_prompts),
    ("/prompts/{name}", "GET", get_prompt),
    ("/prompts/{name}", "PATCH", update_prompt),
    ("/prompts/{name}", "DELETE", delete_prompt),
    ("/prompts/{name}/tags", "POST", set_prompt_tag),
    ("/prompts/{name}/tags/{key}", "DELETE", delete_prompt_tag),
    ("/prompts/{name}/versions", "POST", create_version),
    ("/prompts/{name}/versions/search", "POST", search_versions),
    ("/prompts/{name}/versions/by-alias/{alias}", "GET", get_version_by_alias),
    ("/prompts/{name}/versions/{version}", "GET", get_version),
    ("/prompts/{name}/versions/{version}", "PATCH", update_version),
    ("/prompts/{name}/versions/{version}", "DELETE", delete_version),
    ("/prompts/{name}/versions/{version}/tags", "POST", set_version_tag),
    ("/prompts/{name}/versions/{version}/tags/{key}", "DELETE", delete_version_tag),
    ("/prompts/{name}/aliases/{alias}", "POST", set_alias),
    ("/prompts/{name}/aliases/{alias}", "DELETE", delete_alias),
    ("/prompt-versions/links-to-models", "POST", link_to_models),
    ("/prompt-versions/links-to-runs", "POST", link_to_runs),
    ("/prompt-versions/links-to-traces", "POST", link_to_traces),
]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    return _DIALECT.endpoint(handler)


def routes() -> list[BaseRoute]:
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for path, method, handler in _TABLE:
        by_path.setdefault(path, {})[method] = _endpoint(handler)
    return [Route(PREFIX + path, _dispatch(endpoints), methods=list(endpoints))
            for path, endpoints in by_path.items()]


def _dispatch(endpoints: dict[str, Callable[[Request], Awaitable[Response]]],
              ) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await endpoints[request.method](request)

    return endpoint
