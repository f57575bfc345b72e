"""The OpenAPI 3.1 document of every route the server has, generated from the routes themselves.

Paths, methods and path parameters come from the router's table. Request fields come from the
handlers: an endpoint built by a dialect (api/endpoint.py, api/identity/endpoint.py) carries its
handler, whose source is read for the parameter reader's calls (`p.required_str("name")`,
`p.optional_int("max_results")`, ...): each gives a field's name, type and whether it is
required, sent in the query string or in a JSON body as the dialect reads them; and, where
every `return` of the handler is a dict literal, the success body's top-level fields. Beyond
that, responses are described by what every endpoint of a surface shares: a JSON object on
success and the dialect's own error envelope otherwise (MLflow and Databricks:
`{error_code, message}`; Unity Catalog: `{error_code, message, details}`); the web pages answer
HTML or a redirect.

tests/api/test_openapi.py keeps it true: every route is in the document and every documented
path is routed, and a schemathesis run against a live server checks the answers against it.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import orjson
from starlette.routing import BaseRoute, Mount, Route

from modelyard import __version__ as _VERSION

#: Set on an endpoint by the code that builds it: the handler to read, and the methods whose
#: fields come from the query string (the others' from a JSON body).
HANDLER = "modelyard_handler"
QUERY_METHODS = "modelyard_query_methods"
#: On an endpoint that hands each method to an endpoint of its own: {method: endpoint}.
BY_METHOD = "modelyard_by_method"

#: The parameter readers' methods: (JSON schema, required).
_READERS: dict[str, tuple[dict[str, Any], bool]] = {
    "required_str": ({"type": "string"}, True),
    "path_str": ({"type": "string"}, True),
    "optional_str": ({"type": "string"}, False),
    "required_version": ({"type": "string"}, True),
    "optional_int": ({"type": "integer"}, False),
    "optional_bool": ({"type": "boolean"}, False),
    "flag": ({"type": "boolean"}, False),
    "str_list": ({"type": "array", "items": {"type": "string"}}, False),
    "optional_dict": ({"type": "object"}, False),
    "tags": ({}, False),
    "raw": ({}, False),
    "get": ({}, False),
}
_DEFAULT_NAMES = {"required_version": "version", "tags": "tags"}

#: (path prefix, surface) — the first that matches names a route's surface (its tag).
_SURFACES = (
    ("/api/2.0/mlflow/unity-catalog/", "databricks-uc"),
    ("/api/2.0/fs/", "databricks-uc"),
    ("/.well-known/", "databricks-uc"),
    ("/api/modelyard/v1/signed-files/", "databricks-uc"),
    ("/api/2.0/mlflow/registered-models", "mlflow"),
    ("/api/2.0/mlflow/model-versions", "mlflow"),
    ("/api/2.0/mlflow/", "workspace"),
    ("/api/2.0/permissions/", "workspace"),
    ("/api/2.1/unity-catalog/", "unity-catalog"),
    ("/api/2.0/preview/scim/", "identity"),
    ("/api/2.0/token", "identity"),
    ("/api/modelyard/", "modelyard"),
    ("/health", "operations"),
    ("/ready", "operations"),
    ("/metrics", "operations"),
    ("/openapi.json", "operations"),
)
_PATH_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_]+))?}")
_ERROR = {"type": "object", "required": ["error_code", "message"],
          "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}}}
_UC_ERROR = {"type": "object", "required": ["error_code", "message"],
             "properties": {"error_code": {"type": "string"}, "message": {"type": "string"},
                            "details": {"type": "array"}}}


def surface_of(path: str) -> str:
    for prefix, surface in _SURFACES:
        if path.startswith(prefix):
            return surface
    return "web"


def openapi_path(route_path: str) -> str:
    """`/files/{path:path}` -> `/files/{path}`: OpenAPI has no converters."""
    return _PATH_PARAM.sub(lambda match: "{" + match.group(1) + "}", route_path)


def routed_operations(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """(OpenAPI path, lower-case method) of every route; HEAD (Starlette adds it to GET) left
    out."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        for path, methods in _route_paths(route):
            found.update((path, method.lower()) for method in methods if method != "HEAD")
    return found


def _route_paths(route: BaseRoute) -> list[tuple[str, set[str]]]:
    if isinstance(route, Route):
        return [(openapi_path(route.path), set(route.methods or {"GET"}))]
    if isinstance(route, Mount):  # static files
        return [(route.path.rstrip("/") + "/{path}", {"GET"})]
    return []


@cache
def _parsed(handler: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(handler)))
    except (OSError, TypeError, SyntaxError):
        return None
    function = tree.body[0]
    return function if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) else None


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The function's nodes, without those of functions defined inside it."""
    found: list[ast.AST] = []
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _value_schema(node: ast.expr) -> dict[str, Any]:
    if isinstance(node, ast.List | ast.ListComp):
        return {"type": "array"}
    if isinstance(node, ast.Dict | ast.DictComp):
        return {"type": "object"}
    if isinstance(node, ast.Constant) and node.value is not None:
        return {"type": {bool: "boolean", int: "integer", float: "number",
                         str: "string"}.get(type(node.value), "string")}
    return {}


@cache
def _result_schema(handler: Callable[..., Any]) -> dict[str, Any] | None:
    """The success body's shape when every `return` of the handler is a dict literal with
    constant keys (a key present in each is required); None when it cannot be told."""
    function = _parsed(handler)
    if function is None or not function.body or not isinstance(function.body[-1], ast.Return):
        return None
    shapes: list[dict[str, dict[str, Any]]] = []
    for node in _own_nodes(function):
        if not isinstance(node, ast.Return):
            continue
        body = node.value
        if not isinstance(body, ast.Dict) or not all(
                isinstance(key, ast.Constant) and isinstance(key.value, str) for key in body.keys):
            return None
        shapes.append({key.value: _value_schema(value)  # type: ignore[union-attr]
                       for key, value in zip(body.keys, body.values, strict=True)})
    if not shapes:
        return None
    properties: dict[str, dict[str, Any]] = {}
    for shape in shapes:
        for key, schema in shape.items():
            properties[key] = schema if properties.get(key) in (None, {}) else properties[key]
    required = set(shapes[0]).intersection(*shapes[1:])
    return {"type": "object", "properties": properties, "required": sorted(required)}


@cache
def _handler_fields(handler: Callable[..., Any]) -> tuple[tuple[str, str], ...]:
    """(reader method, field name) of every parameter the handler reads, in order."""
    function = _parsed(handler)
    if function is None:
        return ()
    arguments = [argument.arg for argument in function.args.args]
    if len(arguments) < 3:
        return ()
    params = arguments[2]  # (target, actor, params)
    found: list[tuple[str, str]] = []
    for node in ast.walk(function):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == params
                and node.func.attr in _READERS):
            name = _DEFAULT_NAMES.get(node.func.attr)
            if node.args and isinstance(node.args[0], ast.Constant):
                name = node.args[0].value if isinstance(node.args[0].value, str) else None
            if name and (node.func.attr, name) not in found:
                found.append((node.func.attr, name))
    return tuple(found)


def _fields(endpoint: Any, path_params: set[str]) -> dict[str, tuple[dict[str, Any], bool]]:
    handler = getattr(endpoint, HANDLER, None)
    if handler is None:
        return {}
    fields: dict[str, tuple[dict[str, Any], bool]] = {}
    for reader, name in _handler_fields(handler):
        if name in path_params:
            continue
        schema, required = _READERS[reader]
        known = fields.get(name)
        fields[name] = (schema if known is None or not known[0] else known[0],
                        required or (known is not None and known[1]))
    return fields


def _responses(surface: str, route: BaseRoute, endpoint: Any) -> dict[str, Any]:
    if surface == "web" or isinstance(route, Mount):
        return {"default": {"description": "An HTML page, a file, or a redirect; an error for a "
                                           "path no page answers.",
                            "content": {"text/html": {"schema": {"type": "string"}},
                                        "application/json": {"schema": _ERROR}}}}
    if surface == "operations":
        return {"default": {"description": "JSON, or Prometheus' text format for /metrics."}}
    error = _UC_ERROR if surface == "unity-catalog" else _ERROR
    files = surface == "databricks-uc" and "{path" in getattr(route, "path", "")
    ok: dict[str, Any] = {"description": "Success."}
    if files or (surface == "modelyard" and "/files/" in getattr(route, "path", "")):
        ok["content"] = {"application/octet-stream": {"schema": {"type": "string"}},
                         "application/json": {"schema": {"type": "object"}}}
    else:
        handler = getattr(endpoint, HANDLER, None)
        shape = _result_schema(handler) if handler is not None else None
        ok["content"] = {"application/json": {"schema": shape or {"type": "object"}}}
    return {
        "2XX": ok,
        "default": {"description": "An error, in the surface's own format.",
                    "content": {"application/json": {"schema": error}}},
    }


def _operation(route: BaseRoute, path: str, method: str) -> dict[str, Any]:
    surface = surface_of(path)
    endpoint = getattr(route, "endpoint", None)
    endpoint = getattr(endpoint, BY_METHOD, {}).get(method.upper(), endpoint)
    path_params = ({"path"} if isinstance(route, Mount)
                   else {name for name, _ in _PATH_PARAM.findall(getattr(route, "path", ""))})
    operation: dict[str, Any] = {
        "tags": [surface],
        "operationId": f"{method}_{path}".replace("/", "_").replace("{", "").replace("}", ""),
        "responses": _responses(surface, route, endpoint),
    }
    name = getattr(endpoint, "__name__", None)
    if name:
        operation["summary"] = name.replace("_", " ")
    parameters: list[dict[str, Any]] = [
        {"name": param, "in": "path", "required": True, "schema": {"type": "string"}}
        for param in sorted(path_params)]
    fields = _fields(endpoint, path_params)
    query_methods = getattr(endpoint, QUERY_METHODS, frozenset({"GET"}))
    if fields and method.upper() in query_methods:
        for field, (schema, required) in fields.items():
            parameters.append({"name": field, "in": "query", "required": required,
                               "schema": _query_schema(schema)})
    elif fields:
        operation["requestBody"] = {"required": False, "content": {"application/json": {
            "schema": {"type": "object",
                       "properties": {field: schema for field, (schema, _) in fields.items()},
                       "required": sorted(f for f, (_, required) in fields.items()
                                          if required)}}}}
    if parameters:
        operation["parameters"] = parameters
    return operation


def _query_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # Query values are text; a list is the field repeated.
    return schema or {"type": "string"}


def document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        for path, methods in _route_paths(route):
            for method in sorted(methods - {"HEAD"}):
                paths.setdefault(path, {})[method.lower()] = _operation(route, path,
                                                                        method.lower())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Modelyard", "version": _VERSION,
                 "description": "Every surface of a Modelyard server: MLflow's model registry "
                                "REST API, the workspace registry extras, Unity Catalog, "
                                "Databricks' UC registry and Files API, identity, Modelyard's "
                                "own API, operations and the web pages. Tags name the surface."},
        "tags": [{"name": name} for name in sorted({s for _, s in _SURFACES} | {"web"})],
        "paths": dict(sorted(paths.items())),
    }


_cached: dict[int, bytes] = {}


def document_bytes(routes: list[BaseRoute]) -> bytes:
    """The document as JSON, built on the first request (the app's routes do not change)."""
    key = id(routes)
    body = _cached.get(key)
    if body is None:
        body = _cached[key] = orjson.dumps(document(routes))
    return body
