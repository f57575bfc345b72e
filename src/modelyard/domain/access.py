"""Access rules as data: workspace permission levels and Unity Catalog privileges.

Pure functions only; services/authorization.py applies them to what the store says.
"""

from __future__ import annotations

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
        raise InvalidArgument(
            f"Invalid privilege {value!r}; valid privileges are "
            f"{', '.join(p.value.replace(' ', '_') for p in Privilege)} "
            "(with underscores or spaces, any letter case).") from None


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


_P = Privilege
#: The privileges each securable takes (Databricks' privilege model 1.0, for the privileges
#: Modelyard knows). A container takes the privileges of what it contains, which then reach
#: everything inside; USE CATALOG is a catalog's alone, CREATE CATALOG the metastore's. BROWSE
#: stays grantable below a catalog, as it always was here.
APPLICABLE: dict[Securable, frozenset[Privilege]] = {
    Securable.METASTORE: frozenset({_P.CREATE_CATALOG}),
    Securable.CATALOG: frozenset(Privilege) - {_P.CREATE_CATALOG},
    Securable.SCHEMA: frozenset(Privilege) - {_P.CREATE_CATALOG, _P.USE_CATALOG,
                                              _P.CREATE_SCHEMA},
    Securable.MODEL: frozenset({_P.ALL_PRIVILEGES, _P.APPLY_TAG, _P.BROWSE,
                                _P.CREATE_MODEL_VERSION, _P.EXECUTE, _P.MANAGE}),
}

#: How Databricks names a securable's type in the entity of its refusals.
_ENTITY_TYPE = {Securable.METASTORE: "METASTORE", Securable.CATALOG: "CATALOG",
                Securable.SCHEMA: "SCHEMA", Securable.MODEL: "FUNCTION"}


def require_applicable(privileges: tuple[Privilege, ...], securable: Securable,
                       name: str) -> None:
    """Refuse, as Databricks does, a privilege granted on a securable it does not apply to
    (USE CATALOG on a schema), naming the ones that do."""
    for privilege in privileges:
        if privilege not in APPLICABLE[securable]:
            kind = "model" if securable is Securable.MODEL else securable.value
            raise InvalidArgument(
                f"Privilege {privilege.value} is not applicable to this entity "
                f"[{name}:{_ENTITY_TYPE[securable]}]. The privileges of a {kind} are "
                f"{', '.join(sorted(p.value.replace(' ', '_') for p in APPLICABLE[securable]))}.")


# ---- Unity Catalog: what a caller holds along catalog → schema → model --------------------------

CATALOG, SCHEMA, MODEL = "catalog", "schema", "model"


@dataclass(frozen=True, slots=True)
class UcView:
    """The caller's standing on one path. `owns[level]` is true when it owns that object or an
    ancestor; `held[level]` are its privileges there, inherited ones included."""

    owns: dict[str, bool]
    held: dict[str, frozenset[Privilege]]
    metastore: frozenset[Privilege] = frozenset()


def expand(privileges: set[Privilege]) -> frozenset[Privilege]:
    if Privilege.ALL_PRIVILEGES in privileges:
        privileges = privileges | ALL_PRIVILEGES_COVERS
    return frozenset(privileges)


# The rules are data, so that two interpreters read the same ones: `permits` decides for one
# object from a UcView (services/authorization.py), and store/uc_visibility.py turns a rule into
# a SQL condition that list queries filter with.

@dataclass(frozen=True, slots=True)
class Owns:
    """The caller owns the object at `level`, or one of its ancestors."""

    level: str


@dataclass(frozen=True, slots=True)
class Holds:
    """The caller holds one of `privileges` on the object at `level` or one of its ancestors
    (ALL PRIVILEGES standing for every privilege it covers)."""

    level: str
    privileges: tuple[Privilege, ...]


@dataclass(frozen=True, slots=True)
class HoldsOnMetastore:
    privilege: Privilege


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[Rule, ...]


Rule = Owns | Holds | HoldsOnMetastore | AnyOf | AllOf


def permits(rule: Rule, view: UcView) -> bool:
    if isinstance(rule, Owns):
        return view.owns.get(rule.level, False)
    if isinstance(rule, Holds):
        held = view.held.get(rule.level, frozenset())
        return any(p in held for p in rule.privileges)
    if isinstance(rule, HoldsOnMetastore):
        return rule.privilege in view.metastore
    if isinstance(rule, AnyOf):
        return any(permits(r, view) for r in rule.rules)
    return all(permits(r, view) for r in rule.rules)


def _any(*rules: Rule) -> AnyOf:
    return AnyOf(rules)


def _all(*rules: Rule) -> AllOf:
    return AllOf(rules)


def _holds(level: str, *privileges: Privilege) -> Holds:
    return Holds(level, privileges)


USES_CATALOG = _any(Owns(CATALOG), _holds(CATALOG, _P.USE_CATALOG))
USES_SCHEMA = _all(USES_CATALOG, _any(Owns(SCHEMA), _holds(SCHEMA, _P.USE_SCHEMA)))

#: Per operation: may the caller do it? (USE CATALOG and USE SCHEMA are always needed too,
#: unless the caller owns them; owning a catalog or schema counts as owning what is inside.)
UC_RULES: dict[str, Rule] = {
    "catalog.create": HoldsOnMetastore(_P.CREATE_CATALOG),
    "catalog.read": _any(USES_CATALOG, _holds(CATALOG, _P.BROWSE)),
    "catalog.manage": _any(Owns(CATALOG), _holds(CATALOG, _P.MANAGE)),
    "catalog.own": Owns(CATALOG),
    "catalog.tag": _any(Owns(CATALOG), _holds(CATALOG, _P.APPLY_TAG, _P.MANAGE)),
    "schema.create": _all(USES_CATALOG, _any(Owns(CATALOG), _holds(CATALOG, _P.CREATE_SCHEMA))),
    "schema.read": _any(USES_SCHEMA, _holds(SCHEMA, _P.BROWSE)),
    "schema.manage": _any(Owns(SCHEMA), _all(USES_CATALOG, _holds(SCHEMA, _P.MANAGE))),
    "schema.own": Owns(SCHEMA),
    "schema.tag": _any(Owns(SCHEMA), _all(USES_CATALOG, _holds(SCHEMA, _P.APPLY_TAG, _P.MANAGE))),
    "model.create": _all(USES_SCHEMA, _any(Owns(SCHEMA), _holds(SCHEMA, _P.CREATE_MODEL,
                                                                 _P.CREATE_FUNCTION))),
    "model.read": _any(_holds(MODEL, _P.BROWSE), _all(USES_SCHEMA, _any(
        Owns(MODEL), _holds(MODEL, _P.EXECUTE, _P.MANAGE, _P.APPLY_TAG,
                            _P.CREATE_MODEL_VERSION)))),
    "model.execute": _all(USES_SCHEMA, _any(Owns(MODEL), _holds(MODEL, _P.EXECUTE))),
    # MANAGE acts "similar to an owner" (Databricks), and an owner adds versions.
    "model.create_version": _all(USES_SCHEMA, _any(Owns(MODEL),
                                                   _holds(MODEL, _P.CREATE_MODEL_VERSION,
                                                          _P.MANAGE))),
    "model.manage": _any(Owns(MODEL), _all(USES_SCHEMA, _holds(MODEL, _P.MANAGE))),
    "model.own": Owns(MODEL),
    "model.tag": _all(USES_SCHEMA, _any(Owns(MODEL), _holds(MODEL, _P.APPLY_TAG, _P.MANAGE))),
}

#: The rule that decides whether an object is visible at all (else: indistinguishable from
#: a missing one).
VISIBLE = {CATALOG: "catalog.read", SCHEMA: "schema.read", MODEL: "model.read"}


# ---- explaining a refusal ---------------------------------------------------------------------

#: How Databricks names each kind of object in its permission errors.
_OBJECT_WORD = {CATALOG: "Catalog", SCHEMA: "Schema", MODEL: "Registered Model"}
_DEPTH = {CATALOG: 1, SCHEMA: 2, MODEL: 3}


def missing_privilege(rule: Rule, view: UcView, parts: list[str]) -> str:
    """Databricks' sentence for what the caller lacks under `rule` on the path `parts`
    ("User does not have CREATE MODEL on Schema 'main.fraud'."): the first requirement of the
    rule that the caller does not meet, named by its main privilege."""
    if isinstance(rule, AllOf):
        failing = [r for r in rule.rules if not permits(r, view)]
        return missing_privilege(failing[0] if failing else rule.rules[-1], view, parts)
    if isinstance(rule, AnyOf):
        # Explain the alternative a grant would satisfy: a compound one (it says what is
        # needed along the path) before a single privilege, and ownership only as a last resort.
        chosen = (next((r for r in rule.rules if isinstance(r, AllOf)), None)
                  or next((r for r in rule.rules if not isinstance(r, Owns)), rule.rules[0]))
        return missing_privilege(chosen, view, parts)
    if isinstance(rule, HoldsOnMetastore):
        return f"User does not have {rule.privilege.value} on Metastore."
    name = ".".join(parts[:_DEPTH[rule.level]])
    if isinstance(rule, Owns):
        return f"User is not an owner of {_OBJECT_WORD[rule.level]} '{name}'."
    return f"User does not have {rule.privileges[0].value} on {_OBJECT_WORD[rule.level]} '{name}'."
