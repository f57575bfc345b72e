"""The trash and legal holds (issue 20): values and the rules that need no database.

Deleting a model or a version moves it to the trash for the retention period instead of
removing it (services/trash.py): it disappears from every API, its name is free at once, its
version numbers are never handed out again, its files stay. Owners and admins list, restore and
purge it; after the retention period the sweeper purges it. A legal hold names a model (all of
it) or one version, in one registry; while it exists, what it names can be neither deleted nor
purged, whether it is live or in the trash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.domain.changes import Event
from modelyard.domain.errors import FailedPrecondition, InvalidArgument

WORKSPACE = "workspace"
UC = "uc"
REGISTRIES = (WORKSPACE, UC)
#: The `registry` value of a trashed model's row (and of a trashed version's holder row): no
#: query of either registry matches it, and each item has its own, so the (registry, name)
#: unique constraint never sees two trashed models of one name.
TRASH_PREFIX = "trash:"
MAX_REASON = 2000
DAY_MS = 86_400_000
HOLDS_PATH = "/api/modelyard/v1/holds"


def trash_registry(item_id: int) -> str:
    return f"{TRASH_PREFIX}{item_id}"


#: The events of a model going into the trash, coming back, and leaving it for good: what is
#: kept beside the model (its history, its Unity Catalog grants) follows them.
MODEL_TRASH_ACTIONS = ("registered_model.delete", "registered_model.restore",
                       "registered_model.purge")


def trash_item_of(event: Event) -> int | None:
    """The trash item's id that the audit event of a model's delete, restore or purge names
    (None: a delete not kept in the trash, gone for good)."""
    said = (event.after or {}) if event.action != "registered_model.purge" else \
        (event.before or {})
    if event.action == "registered_model.delete":
        said = said.get("trash") or {}
    found = said.get("id" if event.action == "registered_model.delete" else "trash_id")
    return int(found) if found is not None else None


@dataclass(frozen=True)
class TrashItem:
    id: int
    registry: str
    name: str
    version: int | None
    deleted_by: str
    deleted_at: int
    expires_at: int
    owner: str
    aliases: list[tuple[str, int]] = field(default_factory=list)
    #: The model the item belongs to (a row id, internal).
    model_id: int = 0
    holder_id: int | None = None
    schema_id: str | None = None

    @property
    def label(self) -> str:
        return self.name if self.version is None else f"{self.name}/{self.version}"

    @property
    def kind(self) -> str:
        return "registered_model" if self.version is None else "model_version"

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "registry": self.registry, "name": self.name,
                "version": None if self.version is None else str(self.version),
                "type": self.kind, "owner": self.owner, "deleted_by": self.deleted_by,
                "deleted_at": self.deleted_at, "expires_at": self.expires_at,
                "aliases": [alias for alias, _ in self.aliases]}


@dataclass(frozen=True)
class Hold:
    registry: str
    name: str
    version: int | None
    reason: str
    created_by: str
    created_at: int

    @property
    def label(self) -> str:
        return self.name if self.version is None else f"{self.name}/{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {"registry": self.registry, "name": self.name,
                "version": None if self.version is None else str(self.version),
                "reason": self.reason, "created_by": self.created_by,
                "created_at": self.created_at}


class UnderLegalHold(FailedPrecondition):
    """Deleting or purging what a legal hold protects."""


def held_error(hold: Hold, doing: str, what: str) -> UnderLegalHold:
    """The refusal naming the hold and how to release it."""
    version = "" if hold.version is None else f", \"version\": \"{hold.version}\""
    cli_ref = hold.label if hold.registry == UC or hold.name.count(".") != 2 else \
        f"{hold.label} --workspace"
    return UnderLegalHold(
        f"Cannot {doing} {what}: {hold.label} is under a legal hold (reason: "
        f"'{hold.reason}', set by {hold.created_by}). Release the hold first: "
        f"modelyard holds release {cli_ref}, or POST {HOLDS_PATH}/release "
        f"{{\"name\": \"{hold.name}\"{version}}}.")


def blocking_hold(holds: list[Hold], version: int | None) -> Hold | None:
    """The hold that blocks deleting or purging the model (`version` None: any hold on it or
    on one of its versions) or the version (a hold on it or on its whole model)."""
    for hold in holds:
        if version is None or hold.version is None or hold.version == version:
            return hold
    return None


def parse_registry(registry: object, name: str) -> str:
    """The registry a request means: the one it names, else a three-level name is Unity
    Catalog's and any other the workspace registry's."""
    if registry is None or registry == "":
        parts = name.split(".")
        return UC if len(parts) == 3 and all(parts) else WORKSPACE
    if registry not in REGISTRIES:
        raise InvalidArgument(f"Invalid registry {registry!r}: use 'workspace' or 'uc'.")
    return str(registry)


def parse_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidArgument("A legal hold needs a reason: pass 'reason' (--reason), e.g. "
                              "the matter it preserves evidence for.")
    if len(reason) > MAX_REASON:
        raise InvalidArgument(f"Invalid 'reason': at most {MAX_REASON} characters.")
    return reason.strip()


def retention_ms(days: float) -> int:
    return int(days * DAY_MS)
