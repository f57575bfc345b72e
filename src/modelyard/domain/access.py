"""Access rules as data: workspace permission levels and Unity Catalog privileges.

Pure functions only; services/authorization.py applies them to what the store says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from modelyard.domain.errors import InvalidArgument
from modelyard.domain.stages import Stage


class Level(IntEnum):
    """Workspace-registry permission levels, ordered: each includes those below it."""

    NONE = 0
    CAN_READ = 1
    CAN_EDIT = 2
    CAN_MANAGE_STAGING_VERSIONS = 3
    CAN_MANAGE_PRODUCTION_VERSIONS = 4
    CAN_MANAGE = 5


#: What the Permissions API's `permissionLevels` answers, in Databricks' words.
LEVEL_DESCRIPTIONS: dict[Level, str] = {
    Level.CAN_READ: "Can view the details of the registered model and its model versions, "
                    "and use the model versions.",
    Level.CAN_EDIT: "Can view and edit the details of a registered model and its model "
                    "versions (except stage changes), and add new model versions.",
    Level.CAN_MANAGE_STAGING_VERSIONS: "Can view and edit the details of a registered model "
                                       "and its model versions, add new model versions, and "
                                       "manage stage transitions between non-Production stages.",
    Level.CAN_MANAGE_PRODUCTION_VERSIONS: "Can view and edit the details of a registered model "
                                          "and its model versions, add new model versions, and "
                                          "manage stage transitions between any stages.",
    Level.CAN_MANAGE: "Can manage permissions on, view all details of, and perform all actions "
                      "on the registered model and its model versions.",
}


def parse_level(value: object) -> Level:
    """`CAN_MANAGE_STAGING_VERSIONS` or `CAN MANAGE STAGING VERSIONS`, any letter case."""
    text = str(value or "").strip().upper().replace(" ", "_")
    try:
        level = Level[text]
    except KeyError:
        level = Level.NONE
    if level is Level.NONE:
        raise InvalidArgument(
            f"Invalid permission level {value!r}; expected one of "
            f"{', '.join(lv.name for lv in Level if lv is not Level.NONE)}."
        )
    return level


def level_for_transition(from_stage: Stage, to_stage: Stage) -> Level:
    """The level needed to move a version: Production on either side needs the higher one."""
    if Stage.PRODUCTION in (from_stage, to_stage):
        return Level.CAN_MANAGE_PRODUCTION_VERSIONS
    return Level.CAN_MANAGE_STAGING_VERSIONS


class Privilege(StrEnum):
    """Unity Catalog privileges; values are the OSS spelling (`USE CATALOG`)."""

    ALL_PRIVILEGES = "ALL PRIVILEGES"
    APPLY_TAG = "APPLY TAG"
    BROWSE = "BROWSE"
    CREATE_CATALOG = "CREATE CATALOG"
    CREATE_SCHEMA = "CREATE SCHEMA"
    CREATE_MODEL = "CREATE MODEL"
    CREATE_FUNCTION = "CREATE FUNCTION"
    CREATE_MODEL_VERSION = "CREATE MODEL VERSION"
    EXECUTE = "EXECUTE"
    MANAGE = "MANAGE"
    USE_CATALOG = "USE CATALOG"
    USE_SCHEMA = "USE SCHEMA"


#: `ALL PRIVILEGES` stands for every privilege but MANAGE (no escalation through it).
ALL_PRIVILEGES_COVERS = frozenset(Privilege) - {Privilege.MANAGE, Privilege.ALL_PRIVILEGES}


def parse_privilege(value: object) -> Privilege:
    """Accept `USE_CATALOG` (Databricks, databricks-sdk) and `USE CATALOG` (OSS), any case."""
    text = " ".join(str(value or "").replace("_", " ").upper().split())
    try:
        return Privilege(text)
    except ValueError:
        raise InvalidArgument(f"Invalid privilege {value!r}.") from None


class Securable(StrEnum):
    METASTORE = "metastore"
    CATALOG = "catalog"
    SCHEMA = "schema"
    MODEL = "registered_model"


_SECURABLE_ALIASES = {
    "metastore": Securable.METASTORE, "catalog": Securable.CATALOG,
    "schema": Securable.SCHEMA, "registered_model": Securable.MODEL,
    "registered-model": Securable.MODEL, "model": Securable.MODEL,
    # Databricks' grants API files models under FUNCTION.
    "function": Securable.MODEL,
}


def parse_securable(value: str) -> Securable:
    securable = _SECURABLE_ALIASES.get(value.strip().lower())
    if securable is None:
        raise InvalidArgument(f"Unsupported securable type {value!r}.")
    return securable


# ---- Unity Catalog: what a caller holds along catalog → schema → model --------------------------

CATALOG, SCHEMA, MODEL = "catalog", "schema", "model"


@dataclass(frozen=True, slots=True)
class UcView:
    """The caller's standing on one path. `owns[level]` is true when it owns that object or an
    ancestor; `held[level]` are its privileges there, inherited ones included."""

    owns: dict[str, bool]
    held: dict[str, frozenset[Privilege]]
    metastore: frozenset[Privilege] = frozenset()

    def has(self, level: str, *privileges: Privilege) -> bool:
        return any(p in self.held.get(level, frozenset()) for p in privileges)

    def uses_catalog(self) -> bool:
        return self.owns.get(CATALOG, False) or self.has(CATALOG, Privilege.USE_CATALOG)

    def uses_schema(self) -> bool:
        return self.uses_catalog() and (self.owns.get(SCHEMA, False)
                                        or self.has(SCHEMA, Privilege.USE_SCHEMA))


def expand(privileges: set[Privilege]) -> frozenset[Privilege]:
    if Privilege.ALL_PRIVILEGES in privileges:
        privileges = privileges | ALL_PRIVILEGES_COVERS
    return frozenset(privileges)


_P = Privilege
#: Per operation: may the caller do it? (USE CATALOG and USE SCHEMA are always needed too,
#: unless the caller owns them; owning a catalog or schema counts as owning what is inside.)
UC_RULES: dict[str, Callable[[UcView], bool]] = {
    "catalog.create": lambda v: _P.CREATE_CATALOG in v.metastore,
    "catalog.read": lambda v: v.uses_catalog() or v.has(CATALOG, _P.BROWSE),
    "catalog.manage": lambda v: v.owns[CATALOG] or v.has(CATALOG, _P.MANAGE),
    "catalog.own": lambda v: v.owns[CATALOG],
    "catalog.tag": lambda v: v.owns[CATALOG] or v.has(CATALOG, _P.APPLY_TAG, _P.MANAGE),
    "schema.create": lambda v: v.uses_catalog() and (v.owns[CATALOG]
                                                     or v.has(CATALOG, _P.CREATE_SCHEMA)),
    "schema.read": lambda v: v.uses_schema() or v.has(SCHEMA, _P.BROWSE),
    "schema.manage": lambda v: v.owns[SCHEMA] or (v.uses_catalog()
                                                  and v.has(SCHEMA, _P.MANAGE)),
    "schema.own": lambda v: v.owns[SCHEMA],
    "schema.tag": lambda v: v.owns[SCHEMA] or (v.uses_catalog()
                                               and v.has(SCHEMA, _P.APPLY_TAG, _P.MANAGE)),
    "model.create": lambda v: v.uses_schema() and (
        v.owns[SCHEMA] or v.has(SCHEMA, _P.CREATE_MODEL, _P.CREATE_FUNCTION)),
    "model.read": lambda v: v.has(MODEL, _P.BROWSE) or (v.uses_schema() and (
        v.owns[MODEL] or v.has(MODEL, _P.EXECUTE, _P.MANAGE, _P.APPLY_TAG,
                               _P.CREATE_MODEL_VERSION))),
    "model.execute": lambda v: v.uses_schema() and (v.owns[MODEL]
                                                    or v.has(MODEL, _P.EXECUTE)),
    "model.create_version": lambda v: v.uses_schema() and (
        v.owns[MODEL] or v.has(MODEL, _P.CREATE_MODEL_VERSION)),
    "model.manage": lambda v: v.owns[MODEL] or (v.uses_schema() and v.has(MODEL, _P.MANAGE)),
    "model.own": lambda v: v.owns[MODEL],
    "model.tag": lambda v: v.uses_schema() and (v.owns[MODEL]
                                                or v.has(MODEL, _P.APPLY_TAG, _P.MANAGE)),
}

#: The rule that decides whether an object is visible at all (else: indistinguishable from
#: a missing one).
VISIBLE = {CATALOG: "catalog.read", SCHEMA: "schema.read", MODEL: "model.read"}
