"""Workspace-registry stages and the rules for moving between them."""

from __future__ import annotations

from enum import StrEnum

from modelyard.domain.errors import InvalidArgument


class Stage(StrEnum):
    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


_BY_LOWER = {stage.value.lower(): stage for stage in Stage}
#: Stages whose current occupants `archive_existing_versions` may archive.
ACTIVE_STAGES = frozenset({Stage.STAGING, Stage.PRODUCTION})


def parse_stage(value: str) -> Stage:
    """Canonicalize a stage name case-insensitively, as MLflow does."""
    stage = _BY_LOWER.get(value.strip().lower()) if isinstance(value, str) else None
    if stage is None:
        raise InvalidArgument(
            f"Invalid Model Version stage: {value}. "
            f"Value must be one of {', '.join(s.value for s in Stage)}."
        )
    return stage


def check_archive_existing(stage: Stage, archive_existing_versions: bool) -> None:
    if archive_existing_versions and stage not in ACTIVE_STAGES:
        raise InvalidArgument(
            f"Model version transition cannot archive existing model versions because "
            f"'{stage.value}' is not an Active stage. Valid stages are "
            f"{', '.join(s.value for s in sorted(ACTIVE_STAGES))}."
        )
