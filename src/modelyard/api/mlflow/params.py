"""Reading MLflow request fields: query parameters on GET, a JSON body otherwise.

Type errors get MLflow's own wording, so users see the messages they know.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from modelyard.api.http import json_object, read_body
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.numbers import INT64_MAX, ascii_int

_DOCS = "See the API docs for more information about request parameters."


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """`parse_qsl(query, keep_blank_values=True)`, a third of its cost for the common query
    with nothing to unquote (a point read's "name=m&version=3")."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    pairs = []
    for field in query.split("&"):
        if field:
            key, _, value = field.partition("=")
            pairs.append((key, value))
    return pairs


class Params:
    def __init__(self, values: dict[str, Any], multi: dict[str, list[str]] | None = None) -> None:
        # A NUL in the query string was refused before routing (api/input_guard.py), one in
        # the body where it was parsed (api/http.json_object).
        self._values = values
        self._multi = multi

    @classmethod
    async def from_request(cls, request: Request) -> Params:
        if request.method == "GET":
            # What Starlette's request.query_params parses, without its multidict around it.
            query = request.scope["query_string"].decode("latin-1")
            multi: dict[str, list[str]] = {}
            for key, value in _query_pairs(query):
                multi.setdefault(key, []).append(value)
            return cls({k: v[-1] for k, v in multi.items()}, multi)
        values = await json_object(await read_body(request))
        if request.method == "DELETE" and request.scope["query_string"]:
            # databricks-sdk sends a DELETE's fields in the query string (model_registry's
            # delete_model, delete_model_version …); a field in the body wins.
            query = request.scope["query_string"].decode("latin-1")
            values = {**dict(_query_pairs(query)), **values}
        return cls(values)

    def with_path(self, path: dict[str, Any]) -> Params:
        """These parameters and the request's path parameters (which win)."""
        return Params({**self._values, **path}, self._multi)

    def has(self, name: str) -> bool:
        """Whether the field was sent at all (a null counts): `null` may mean something."""
        return name in self._values

    def raw(self, name: str) -> Any:
        """The field as the client sent it, for structured values other dialects read."""
        return self._values.get(name)

    def _invalid(self, name: str, value: Any) -> InvalidArgument:
        return InvalidArgument(
            f"Invalid value {value!r} for parameter '{name}' supplied: "
            f"Hint: Value was of type '{type(value).__name__}'. {_DOCS}"
        )

    def required_str(self, name: str) -> str:
        value = self._values.get(name)
        if value is None or value == "":
            raise InvalidArgument(f"Missing value for required parameter '{name}'. {_DOCS}")
        if not isinstance(value, str):
            raise self._invalid(name, value)
        return value

    def optional_str(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._invalid(name, value)
        return value

    def required_version(self, name: str = "version") -> str | int:
        value = self._values.get(name)
        if value is None or value == "":
            raise InvalidArgument(f"Missing value for required parameter '{name}'. {_DOCS}")
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self._invalid(name, value)
        return value

    def optional_int(self, name: str) -> int | None:
        value = self._values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise self._invalid(name, value)
        number = value if isinstance(value, int) else (
            ascii_int(value.strip()) if isinstance(value, str) else None)
        if number is None:
            raise self._invalid(name, value)
        if not -INT64_MAX <= number <= INT64_MAX:
            raise InvalidArgument(f"Parameter '{name}' is out of range: at most {INT64_MAX}.")
        return number

    def optional_bool(self, name: str) -> bool:
        value = self._values.get(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self._invalid(name, value)

    def str_list(self, name: str) -> list[str]:
        if self._multi is not None:
            return list(self._multi.get(name, []))
        value = self._values.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise self._invalid(name, value)

    def tags(self, name: str = "tags") -> dict[str, str]:
        """`[{key, value}, …]` as a dict; later duplicates win, as in MLflow."""
        value = self._values.get(name)
        if value is None:
            return {}
        if not isinstance(value, list):
            raise self._invalid(name, value)
        tags: dict[str, str] = {}
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise InvalidArgument(f"Each entry of '{name}' must be an object with a string "
                                      f"'key' and a string 'value'.")
            tag_value = item.get("value", "")
            if tag_value is not None and not isinstance(tag_value, str):
                raise self._invalid(f"{name}.value", tag_value)
            tags[item["key"]] = tag_value or ""
        return tags
