"""Unity Catalog objects: catalogs, schemas, three-level model names, governed versions.

Pure: names, entities and the errors a UC dialect needs to tell apart. Names follow Unity
Catalog's rules: at most 255 characters, no period, space, forward slash or control character,
stored (and compared) in lower case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modelyard.domain.entities import Alias
from modelyard.domain.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)

MAX_NAME_LENGTH = 255
MAX_COMMENT_LENGTH = 65_536
MAX_PROPERTIES = 100
_BAD_NAME_RE = re.compile(r"[.\s/\x00-\x1f\x7f]")


class CatalogNotFound(NotFound):
    pass


class SchemaNotFound(NotFound):
    pass


class CatalogAlreadyExists(AlreadyExists):
    pass


class SchemaAlreadyExists(AlreadyExists):
    pass


class NotEmpty(FailedPrecondition):
    """A catalog or schema still has children and `force` was not given."""


class VersionNotPending(InvalidArgument):
    """Finalize (or an upload) on a version that is no longer PENDING_REGISTRATION."""


class VersionNotReady(FailedPrecondition):
    """An alias or a download asks for a version whose files are not (or no longer) there."""


class VersionHasNoFiles(FailedPrecondition):
    """Finalize found nothing at the version's storage location."""


class Aborted(Conflict):
    pass


class VersionStatus(StrEnum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    READY = "READY"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"


class Operation(StrEnum):
    READ = "READ_MODEL_VERSION"
    READ_WRITE = "READ_WRITE_MODEL_VERSION"


def validate_name(name: object, kind: str = "name") -> str:
    """One level of a UC name, lower-cased; 400 when it breaks UC's rules."""
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"Parameter '{kind}' is required and must be a non-empty string.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"Invalid {kind} '{name[:40]}…': names are at most {MAX_NAME_LENGTH} characters.")
    if _BAD_NAME_RE.search(name):
        raise InvalidArgument(
            f"Invalid {kind} '{name}': name cannot contain a period, space, forward-slash, "
            "or control characters.")
    return name.lower()


def validate_owner(owner: object) -> str:
    """A principal's name (a user's e-mail, a group, a service principal): kept as given."""
    if not isinstance(owner, str) or not owner.strip():
        raise InvalidArgument("Parameter 'owner' must be a non-empty string.")
    if len(owner) > 256 or re.search(r"[\x00-\x1f\x7f]", owner):
        raise InvalidArgument(f"Invalid owner '{owner[:40]}'.")
    return owner


def split_schema_name(full_name: str) -> tuple[str, str]:
    parts = full_name.split(".") if isinstance(full_name, str) else []
    if len(parts) != 2:
        raise InvalidArgument(
            f"Invalid schema name '{full_name}': expected 'catalog.schema'.")
    return validate_name(parts[0], "catalog_name"), validate_name(parts[1], "schema_name")


def split_model_name(full_name: str) -> tuple[str, str, str]:
    parts = full_name.split(".") if isinstance(full_name, str) else []
    if len(parts) != 3:
        raise InvalidArgument(
            f"Invalid registered model name: '{full_name}'. A Unity Catalog model name has "
            "three levels: catalog.schema.model.")
    return (validate_name(parts[0], "catalog_name"), validate_name(parts[1], "schema_name"),
            validate_name(parts[2], "model_name"))


def full_model_name(full_name: str) -> str:
    return ".".join(split_model_name(full_name))


def validate_comment(comment: object) -> str:
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise InvalidArgument("Parameter 'comment' must be a string.")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise InvalidArgument(
            f"Comment has length {len(comment)}, the limit is {MAX_COMMENT_LENGTH}.")
    return comment


def validate_properties(properties: object) -> dict[str, str]:
    if properties is None:
        return {}
    if not isinstance(properties, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in properties.items()):
        raise InvalidArgument("Parameter 'properties' must be an object of string values.")
    if len(properties) > MAX_PROPERTIES:
        raise InvalidArgument(f"At most {MAX_PROPERTIES} properties are allowed.")
    return dict(properties)


@dataclass(frozen=True, slots=True)
class Audit:
    owner: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str


@dataclass(frozen=True, slots=True)
class Catalog:
    id: str
    name: str
    comment: str
    properties: dict[str, str]
    storage_root: str | None
    storage_location: str | None
    audit: Audit
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Schema:
    id: str
    catalog_name: str
    name: str
    comment: str
    properties: dict[str, str]
    storage_root: str | None
    storage_location: str | None
    audit: Audit
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.catalog_name}.{self.name}"


class ModelNameParts:
    """The parts of a model's three-level `full_name` (catalog.schema.model), for the
    entities that carry one."""

    __slots__ = ()
    full_name: str

    @property
    def catalog_name(self) -> str:
        return self.full_name.split(".")[0]

    @property
    def schema_name(self) -> str:
        return self.full_name.split(".")[1]

    @property
    def model_name(self) -> str:
        return self.full_name.split(".")[2]


@dataclass(frozen=True, slots=True)
class UcModel(ModelNameParts):
    id: str
    full_name: str
    comment: str
    storage_location: str
    audit: Audit
    aliases: tuple[Alias, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    #: The model's own name, the last part of `full_name`.
    name = ModelNameParts.model_name


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a version came from, as the client told us at registration."""

    run_id: str = ""
    source: str = ""
    model_id: str = ""  # the MLflow LoggedModel id
    run_tracking_server_id: str = ""
    run_workspace_id: int | None = None
    model_version_dependencies: list[Any] = field(default_factory=list)
    datasets: list[Any] = field(default_factory=list)
    copied_from: str = ""  # e.g. "models:/fraud-model/3" for copy_model_version
    #: What clients reported afterwards (`emit-lineage`): one record per distinct report
    #: ({direction, entities, securable}), with who reported it first and last, and when.
    emitted: list[dict[str, Any]] = field(default_factory=list)

    def extra(self) -> dict[str, Any]:
        """The parts stored as JSON (run_id, source, model_id and server id have columns)."""
        data: dict[str, Any] = {}
        if self.run_workspace_id is not None:
            data["run_workspace_id"] = self.run_workspace_id
        if self.model_version_dependencies:
            data["model_version_dependencies"] = self.model_version_dependencies
        if self.datasets:
            data["datasets"] = self.datasets
        if self.copied_from:
            data["copied_from"] = self.copied_from
        if self.emitted:
            data["emitted"] = self.emitted
        return data


#: At most this many distinct lineage reports are kept per version (the oldest go first).
MAX_EMITTED_LINEAGE = 100


def record_emitted(emitted: list[dict[str, Any]], report: dict[str, Any], actor: str,
                   now: int) -> list[dict[str, Any]]:
    """`emitted` with `report` added: a report equal to one already kept (same direction,
    entities and securable) refreshes its `last_*` fields instead of adding a record, so a
    consumer that reports on every load does not grow the list."""
    kept = [dict(item) for item in emitted]
    for item in kept:
        if all(item.get(k) == report.get(k) for k in ("direction", "entities", "securable")):
            item.update(last_reported_by=actor, last_reported_at=now)
            return kept
    kept.append({**report, "first_reported_by": actor, "first_reported_at": now,
                 "last_reported_by": actor, "last_reported_at": now})
    return kept[-MAX_EMITTED_LINEAGE:]


@dataclass(frozen=True, slots=True)
class VersionFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class UcVersion(ModelNameParts):
    id: str
    full_name: str  # the model's
    version: int
    comment: str
    status: VersionStatus
    status_message: str
    storage_location: str
    root_digest: str
    lineage: Lineage
    audit: Audit
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

