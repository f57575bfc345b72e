"""Reading UC requests: path parameters, query strings and JSON bodies, with UC's 400s."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from modelyard.api.http import json_body
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.numbers import parse_int


class Params:
    def __init__(self, path: dict[str, Any], query: dict[str, str], body: dict[str, Any]):
        self.path = path
        self.query = query
        self.body = body

    @classmethod
    async def from_request(cls, request: Request) -> Params:
        body = await json_body(request) if request.method in ("POST", "PATCH", "PUT") else {}
        return cls(dict(request.path_params), dict(request.query_params), body)

    def path_str(self, name: str) -> str:
        return str(self.path[name])

    def get(self, name: str) -> Any:
        """A field from the body, else from the query string."""
        if name in self.body:
            return self.body[name]
        return self.query.get(name)

    def optional_str(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidArgument(f"Parameter '{name}' must be a string.")
        return value

    def required_str(self, name: str) -> str:
        value = self.optional_str(name)
        if not value:
            raise InvalidArgument(f"Parameter '{name}' is required.")
        return value

    def optional_int(self, name: str) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return None
        return parse_int(value, name)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise InvalidArgument(f"Parameter '{name}' must be true or false.")

    def optional_dict(self, name: str) -> dict[str, Any] | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise InvalidArgument(f"Parameter '{name}' must be an object.")
        return value

    def tags(self) -> dict[str, str] | None:
        """Tags as a list of {key, value} (Databricks/MLflow) or an object."""
        value = self.body.get("tags")
        if value is None:
            return None
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        if isinstance(value, list) and all(isinstance(t, dict) and "key" in t for t in value):
            return {str(t["key"]): str(t.get("value") or "") for t in value}
        raise InvalidArgument("Parameter 'tags' must be a list of {key, value} objects.")
