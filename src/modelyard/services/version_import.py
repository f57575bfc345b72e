"""Import-only: create a version under the number it had in the registry it comes from.

`modelyard import-mlflow` copies an MLflow registry version by version, and the numbers must
stay the source's, gaps from deleted versions included (`models:/fraud/7` must mean the same
model after the move). The ordinary create hands out the next number; this use case takes the
number from the caller, for metastore admins only, under one rule that keeps numbering honest:
a number may only be claimed above every number the model has handed out so far (numbers are
never reused, so a gap stays a gap for good), and claiming it also reserves every number below.
The version, its tags, stage and description are written in one transaction: an interrupted
import leaves no half-made version. Imports are audited as `model_version.import` and fire no
registry webhooks (they are history, not new work).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from modelyard.domain import names
from modelyard.domain.actor import Actor
from modelyard.domain.catalog import Lineage, UcVersion
from modelyard.domain.clock import now_ms
from modelyard.domain.entities import ModelVersion
from modelyard.domain.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    ModelyardError,
    NotFound,
)
from modelyard.domain.stages import parse_stage
from modelyard.services import authorization
from modelyard.services.unit_of_work import UnitOfWorkFactory
from modelyard.store.registry import RegistryRepository

if TYPE_CHECKING:
    from modelyard.services.uc_models import UcModelService


def claim_number(repo: RegistryRepository, name: str, requested: int | None) -> tuple[int, int]:
    """(model id, version number) for a new version of `name`, locking the model's row: the
    next free number, or `requested` when it is above every number handed out so far."""
    model_id, next_free = repo.allocate_version(name)
    if requested is None:
        return model_id, next_free
    if requested < 1:
        raise InvalidArgument(f"Invalid version number {requested}: it must be at least 1.")
    if requested < next_free:
        try:
            repo.version_row(name, requested)
        except NotFound:
            raise Conflict(
                f"Version {requested} of '{name}' cannot be created: numbers up to "
                f"{next_free - 1} were handed out already, and a number is never reused."
            ) from None
        raise AlreadyExists(f"Model version {name}/{requested} already exists.")
    return model_id, requested


class VersionImportService:
    def __init__(self, units: UnitOfWorkFactory, uc_models: UcModelService) -> None:
        self.units = units
        self.uc_models = uc_models

    def _require_admin(self, actor: Actor, object_name: str) -> None:
        """Refuse (and audit the refusal) unless a metastore admin calls."""
        try:
            authorization.require_admin(actor, "model_version.import", "model_version",
                                        object_name)
        except ModelyardError as error:
            if error.denied is not None:
                self.units.record_denied(actor, *error.denied)
            raise

    def import_workspace_version(
        self, actor: Actor, name: str, version: int, source: str, *,
        run_id: str | None = None, run_link: str | None = None, description: str | None = None,
        stage: str | None = None, tags: Mapping[str, str] | None = None,
        logged_model_id: str | None = None, user_id: str | None = None,
        created_at: int | None = None, updated_at: int | None = None,
    ) -> ModelVersion:
        """A READY workspace-registry version numbered `version`, with its stage, tags,
        description and (when given) its original creator and timestamps."""
        self._require_admin(actor, f"{name}/{version}")
        names.validate_source(source)
        clean_tags = dict(names.validate_tag(k, v) for k, v in (tags or {}).items())
        values = {
            "source": source,
            "run_id": names.validate_short_text("run_id", run_id),
            "run_link": names.validate_short_text("run_link", run_link, names.MAX_SOURCE_LENGTH),
            "logged_model_id": names.validate_short_text("model_id", logged_model_id),
            "description": names.validate_description(description),
            "stage": parse_stage(stage or "None").value,
        }
        creator = names.validate_short_text("user_id", user_id) or actor.name
        now = now_ms()
        created = _timestamp("creation_timestamp", created_at, now)
        updated = max(created, _timestamp("last_updated_timestamp", updated_at, created))
        with self.units.write(actor) as uow:
            repo = uow.registry("workspace")
            model_id, number = claim_number(repo, name, version)
            repo.insert_version(model_id=model_id, version=number, status="READY",
                                status_message="", user_id=creator, created_at=created,
                                updated_at=updated, tags=clean_tags, **values)
            uow.record("model_version.import", "model_version", f"{name}/{number}",
                       after={**values, "tags": clean_tags, "user_id": creator,
                              "creation_timestamp": created})
            return repo.get_version(name, number)

    def import_uc_version(
        self, actor: Actor, full_name: str, version: int, source: str, *,
        comment: str | None = None, lineage: Lineage | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> UcVersion:
        """A Unity Catalog version numbered `version`, PENDING_REGISTRATION: the importer then
        uploads its files and finalizes it as any client does (digests, signature check)."""
        self._require_admin(actor, f"{full_name}/{version}")
        return self.uc_models.create_version(actor, full_name, source, comment, lineage, tags,
                                             number=version)


def _timestamp(field: str, value: int | None, default: int) -> int:
    if value is None:
        return default
    if value < 0:
        raise InvalidArgument(f"Invalid {field} {value}: it must be milliseconds since 1970.")
    return value
