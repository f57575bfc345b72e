"""Validation of the names and values users choose: models, aliases, tags, sources."""

from __future__ import annotations

import re

from modelyard.domain.errors import InvalidArgument
from modelyard.domain.numbers import INT32_MAX, ascii_int

MAX_MODEL_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
MAX_DESCRIPTION_LENGTH = 100_000
MAX_SOURCE_LENGTH = 4_096
MAX_RUN_ID_LENGTH = 256

_ALIAS_RE = re.compile(r"^[\w\-]*$")
_RESERVED_VERSION_ALIAS_RE = re.compile(r"^v\d+$", re.IGNORECASE)
# MLflow's tag-key rule: alphanumerics, underscores, periods, dashes, spaces, slashes, colons.
_TAG_KEY_RE = re.compile(r"^[\w\-. /:]+$")
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f]")


def validate_model_name(name: str) -> str:
    if not name or not name.strip():
        raise InvalidArgument("Registered model name cannot be empty.")
    if "/" in name or ":" in name:
        raise InvalidArgument(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidArgument(
            f"Invalid model name: it is {len(name)} characters long, "
            f"the limit is {MAX_MODEL_NAME_LENGTH}."
        )
    if _CONTROL_CHARS_RE.search(name):
        raise InvalidArgument(f"Invalid model name {name!r}: it contains control characters.")
    return name


def validate_alias_name(alias: str) -> str:
    """An alias a user may set: not empty, word characters and dashes, not reserved."""
    if not alias:
        raise InvalidArgument("Registered model alias name cannot be empty.")
    if len(alias) > MAX_ALIAS_LENGTH or not _ALIAS_RE.match(alias):
        raise InvalidArgument(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            f"underscores (_), and dashes (-), and be at most {MAX_ALIAS_LENGTH} characters."
        )
    if alias.lower() == "latest":
        raise InvalidArgument("'latest' alias name (case insensitive) is reserved.")
    if _RESERVED_VERSION_ALIAS_RE.match(alias):
        raise InvalidArgument(f"Version alias name '{alias}' is reserved.")
    return alias


def validate_tag(key: str, value: str | None) -> tuple[str, str]:
    if not key:
        raise InvalidArgument("Tag key cannot be empty.")
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidArgument(
            f"Tag key '{key[:40]}…' has length {len(key)}, which exceeds the limit of "
            f"{MAX_TAG_KEY_LENGTH}."
        )
    if not _TAG_KEY_RE.match(key) or ".." in key.split("/") or key.startswith("/"):
        raise InvalidArgument(
            f"Invalid tag key '{key}'. Keys may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    value = "" if value is None else value
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidArgument(
            f"Tag value for key '{key}' has length {len(value)}, which exceeds the limit of "
            f"{MAX_TAG_VALUE_LENGTH}."
        )
    return key, value


def validate_description(description: str | None) -> str:
    description = description or ""
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            f"Description has length {len(description)}, which exceeds the limit of "
            f"{MAX_DESCRIPTION_LENGTH}."
        )
    return description


def validate_source(source: str) -> str:
    if not source:
        raise InvalidArgument("Model version source cannot be empty.")
    if len(source) > MAX_SOURCE_LENGTH:
        raise InvalidArgument(
            f"Model version source has length {len(source)}, which exceeds the limit of "
            f"{MAX_SOURCE_LENGTH}."
        )
    return source


def validate_short_text(field: str, value: str | None, limit: int = MAX_RUN_ID_LENGTH) -> str:
    value = value or ""
    if len(value) > limit:
        raise InvalidArgument(f"'{field}' has length {len(value)}, the limit is {limit}.")
    return value


def parse_version(value: object) -> int:
    """A model version number as clients send it: an int or a decimal string."""
    if isinstance(value, bool):
        raise InvalidArgument(f"Parameter 'version' must be an integer, got '{value}'.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (parsed := ascii_int(value.strip())) is not None:
        number = parsed
    else:
        raise InvalidArgument(f"Parameter 'version' must be an integer, got '{value}'.")
    if number < 1 or number > INT32_MAX:  # what the version column holds
        raise InvalidArgument(f"Parameter 'version' must be a positive integer, got '{value}'.")
    return number
