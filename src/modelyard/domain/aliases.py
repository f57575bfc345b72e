"""The alias rule, for both registries, and the one place that says how they differ.

An alias (`@champion`) is a mutable pointer from a name to one version of one model, unique per
model. Moving it and removing it is one use case (services/aliases.py); these are its rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.domain.catalog import VersionNotReady, VersionStatus
from modelyard.domain.errors import AliasNotFound, Conflict


@dataclass(frozen=True, slots=True)
class AliasRules:
    """How one registry treats aliases. The two registries differ only in what is here."""

    #: The registry namespace the rules apply to ("workspace" or "uc").
    registry: str
    #: Only a READY version may carry an alias (Unity Catalog: a pending or failed version has
    #: no files to serve). The workspace registry, like MLflow's, accepts any version.
    ready_only: bool
    #: Removing an alias that is not set is an error (Unity Catalog answers 404); the workspace
    #: registry, like MLflow's, succeeds without a change.
    missing_is_error: bool
    #: A change records who made it on the model (Unity Catalog's `updated_by`) as well as when.
    records_updater: bool


WORKSPACE = AliasRules("workspace", ready_only=False, missing_is_error=False,
                       records_updater=False)
UNITY_CATALOG = AliasRules("uc", ready_only=True, missing_is_error=True, records_updater=True)


def check_target(rules: AliasRules, model_name: str, alias: str, version: int,
                 status: str) -> None:
    """Raise unless version `version` (in `status`) may carry the alias."""
    if rules.ready_only and status != VersionStatus.READY.value:
        raise VersionNotReady(
            f"Cannot set alias '{alias}' on {model_name}/{version}: the version is {status}, "
            "only READY versions can carry an alias.")


def check_removable(rules: AliasRules, model_name: str, alias: str, version: int | None) -> None:
    """Raise if removing an alias that points at `version` (None: not set) is an error."""
    if version is None and rules.missing_is_error:
        raise AliasNotFound(f"Alias not found: {model_name}@{alias}")


def image(alias: str, version: int | None) -> dict[str, Any] | None:
    """The alias as the audit trail records it before and after a change (None: not set).
    Alias history and rollback read these."""
    return None if version is None else {"alias": alias, "version": version}


class AnyTarget:
    """`expected` of a move that does not compare: the alias moves wherever it points."""

    def __repr__(self) -> str:
        return "ANY_TARGET"


ANY_TARGET = AnyTarget()
#: What a compare-and-set expects the alias to point at: a version, None (unset), ANY_TARGET.
Expected = int | None | AnyTarget


class AliasMoved(Conflict):
    """A compare-and-set found the alias pointing elsewhere than expected."""

    def __init__(self, message: str, current: int | None) -> None:
        super().__init__(message)
        self.current = current


def check_expected(model_name: str, alias: str, current: int | None,
                   expected: Expected) -> None:
    """Raise AliasMoved unless the alias points where the caller expects (compare-and-set)."""
    if isinstance(expected, AnyTarget) or expected == current:
        return
    where = "is not set" if current is None else f"points at version {current}"
    wanted = "to be unset" if expected is None else f"at version {expected}"
    raise AliasMoved(f"Alias {model_name}@{alias} {where}, expected {wanted}: it was moved "
                     "meanwhile. Read its current target and retry with that as "
                     "expected_version.", current)
