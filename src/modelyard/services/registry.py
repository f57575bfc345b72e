"""The workspace registry's use cases: registered models, versions, stages, tags, aliases.

Validation of user input, the rules of stages and aliases, paging limits and transactions live
here, once; API adapters only translate wire formats to and from these calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from modelyard.domain import aliases as domain_aliases
from modelyard.domain import filters, names
from modelyard.domain.access import Level, level_for_transition
from modelyard.domain.aliases import ANY_TARGET, Expected
from modelyard.domain.aliases import WORKSPACE as WORKSPACE_ALIASES
from modelyard.domain.clock import now_ms
from modelyard.domain.entities import ModelVersion, Page, RegisteredModel
from modelyard.domain.errors import AliasNotFound, InvalidArgument, ModelyardError
from modelyard.domain.filters import PROMPT_TAG
from modelyard.domain.hits import ModelHit
from modelyard.domain.paging import decode_page_token, encode_page_token
from modelyard.domain.stages import Stage, check_archive_existing, parse_stage
from modelyard.services import aliases, authorization
from modelyard.services.context import Actor
from modelyard.services.policies import PolicyGate
from modelyard.services.transitions import apply_transition, validate_comment
from modelyard.services.trash import TrashBin
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.store.registry import (
    RegistryRepository,
    model_from_hit,
    version_from_row,
    version_not_found,
    version_search,
)

if TYPE_CHECKING:
    from modelyard.services.promotion import Promotion

T = TypeVar("T")
#: The registry namespace this service serves (Unity Catalog models: services/uc_models.py).
WORKSPACE = "workspace"
MAX_MODELS_PAGE = 1_000
MAX_VERSIONS_PAGE = 200_000
_EXCLUDE_PROMPTS = filters.NOT_A_PROMPT
_MODELS_SCHEME = "models:/"


def _validated_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    return dict(names.validate_tag(k, v) for k, v in (tags or {}).items())


def _page_size(max_results: int | None, default: int, limit: int, allow_zero: bool) -> int:
    if max_results is None:
        return default
    if max_results > limit:
        raise InvalidArgument(
            f"Invalid value {max_results} for parameter 'max_results': it must be at most {limit}."
        )
    if max_results <= 0 and not allow_zero:
        raise InvalidArgument(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
        )
    return max(max_results, 0)


class RegistryService:
    def __init__(self, units: UnitOfWorkFactory, promotion: Promotion | None = None,
                 gate: PolicyGate | None = None, trash: TrashBin | None = None) -> None:
        self.units = units
        #: Deleting moves to the trash for the retention period (services/trash.py).
        self.trash = trash or TrashBin()
        #: Promotion policies every alias move and stage change passes (services/policies.py).
        self.gate = gate or PolicyGate()
        #: Three-level names whose schema exists in Unity Catalog are created there
        #: (copy_model_version from the workspace into UC); None: every name stays here.
        self.promotion = promotion

    @contextmanager
    def _write(self, actor: Actor,
               reason: str | None = None) -> Iterator[tuple[RegistryRepository, UnitOfWork]]:
        with self.units.write(actor, reason=reason) as uow:
            yield uow.registry(WORKSPACE), uow

    @contextmanager
    def _read(self, actor: Actor) -> Iterator[RegistryRepository]:
        with self.units.read(actor) as uow:
            yield uow.registry(WORKSPACE)

    # ---- registered models ----------------------------------------------------------------

    def create_registered_model(
        self, actor: Actor, name: str, tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        if self.promotion is not None and self.promotion.claims(actor, name, self):
            return self.promotion.create_model(actor, name, tags, description)
        names.validate_model_name(name)
        clean_tags = _validated_tags(tags)
        description = names.validate_description(description)
        with self._write(actor) as (repo, uow):
            now = now_ms()
            model_id = repo.insert_model(name, description, actor.name, now)
            repo.insert_model_tags(model_id, name, clean_tags)
            uow.record("registered_model.create", "registered_model", name,
                       after={"description": description, "tags": clean_tags})
        return RegisteredModel(name=name, creation_timestamp=now, last_updated_timestamp=now,
                               user_id=actor.name, description=description,
                               tags=dict(sorted(clean_tags.items())))

    def get_registered_model(self, actor: Actor, name: str) -> RegisteredModel:
        self._require_name(name)
        return self._model_with_latest(actor, name, "registered_model.get")

    def rename_registered_model(self, actor: Actor, name: str, new_name: str) -> RegisteredModel:
        self._require_name(name)
        names.validate_model_name(new_name)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_MANAGE, "registered_model.rename")
            model_id = repo.model_id(name, for_update=True)
            if new_name != name:
                repo.rename_model(model_id, new_name, now_ms())
                uow.record("registered_model.rename", "registered_model", new_name,
                           before={"name": name}, after={"name": new_name})
            return repo.get_model(new_name)

    def update_registered_model(
        self, actor: Actor, name: str, description: str | None
    ) -> RegisteredModel:
        self._require_name(name)
        description = names.validate_description(description)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "registered_model.update")
            repo.update_model(repo.model_id(name, for_update=True), now_ms(),
                              description=description)
            uow.record("registered_model.update", "registered_model", name,
                       after={"description": description})
            return repo.get_model(name)

    def delete_registered_model(self, actor: Actor, name: str) -> None:
        self._require_name(name)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_MANAGE, "registered_model.delete")
            model_id = repo.model_id(name, for_update=True)
            # To the trash: its permission levels stay with it (cleared when it is purged).
            trashed = self.trash.delete_model(uow, WORKSPACE, model_id, name,
                                              repo.model_creator(model_id) or "")
            uow.record("registered_model.delete", "registered_model", name, after=trashed)

    def search_registered_models(
        self, actor: Actor, filter_string: str | None = None, max_results: int | None = None,
        order_by: Iterable[str] | None = None, page_token: str | None = None,
        text: str | None = None,
    ) -> Page[RegisteredModel]:
        """`text`: the web UI's free-text search over names, tag keys and values, aliases."""
        page = self.search_registered_model_hits(actor, filter_string, max_results, order_by,
                                                 page_token, text)
        return Page([model_from_hit(hit) for hit in page.items], page.next_page_token)

    def search_registered_model_hits(
        self, actor: Actor, filter_string: str | None = None, max_results: int | None = None,
        order_by: Iterable[str] | None = None, page_token: str | None = None,
        text: str | None = None,
    ) -> Page[ModelHit]:
        """`search_registered_models` as database rows (domain.hits.ModelHit), for the MLflow
        API to render straight to JSON: building entities first cost more CPU than the queries."""
        clauses = filters.parse_filter(filter_string, filters.MODEL_FILTER)
        if not filters.mentions_tag(clauses, PROMPT_TAG):
            # As MLflow's server: prompts are registered models tagged as such, and a search
            # that does not ask for them leaves them out (search_prompts asks).
            clauses.append(_EXCLUDE_PROMPTS)
        order = filters.parse_order_by(order_by, filters.MODEL_ORDER_FIELDS,
                                       filters.MODEL_DEFAULT_ORDER)
        limit = _page_size(max_results, 100, MAX_MODELS_PAGE, allow_zero=True)
        offset = decode_page_token(page_token)
        if limit == 0:
            return Page([])
        readers = self._readers(actor)
        with self._read(actor) as repo:
            rows = repo.search_model_hits(clauses, order, offset, limit + 1, readers,
                                          text=(text or "").strip())
        return _page(rows, offset, limit)

    def set_registered_model_tag(self, actor: Actor, name: str, key: str, value: str) -> None:
        self._require_name(name)
        key, value = names.validate_tag(key, value)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "registered_model.set_tag")
            model_id = repo.model_id(name, for_update=True)
            repo.set_model_tag(model_id, name, key, value, now=now_ms())
            uow.record("registered_model.set_tag", "registered_model", name,
                       after={"key": key, "value": value})

    def delete_registered_model_tag(self, actor: Actor, name: str, key: str) -> None:
        self._require_name(name)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "registered_model.delete_tag")
            model_id = repo.model_id(name, for_update=True)
            repo.delete_model_tag(model_id, key)
            uow.record("registered_model.delete_tag", "registered_model", name,
                       before={"key": key})

    # ---- model versions -------------------------------------------------------------------

    def create_model_version(
        self, actor: Actor, name: str, source: str, run_id: str | None = None,
        tags: Mapping[str, str] | None = None, run_link: str | None = None,
        description: str | None = None, logged_model_id: str | None = None,
    ) -> ModelVersion:
        if self.promotion is not None and self.promotion.claims(actor, name, self):
            return self.promotion.copy_version(
                self, actor, name, source, run_id, tags, description, logged_model_id)
        self._require_name(name)
        names.validate_source(source)
        clean_tags = _validated_tags(tags)
        values = {
            "source": source,
            "run_id": names.validate_short_text("run_id", run_id),
            "run_link": names.validate_short_text("run_link", run_link, names.MAX_SOURCE_LENGTH),
            "logged_model_id": names.validate_short_text("model_id", logged_model_id),
            "description": names.validate_description(description),
        }
        # A copy (`copy_model_version` sends `models:/<name>/<version>`) downloads from where its
        # origin does, as on MLflow's server; its `source` stays as given.
        storage_location = self._origin_download_uri(actor, source)
        if storage_location is not None:
            values["storage_location"] = storage_location
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "model_version.create")
            now = now_ms()
            model_id, version = repo.allocate_version(name)
            repo.insert_version(
                model_id=model_id, version=version, stage=Stage.NONE.value, status="READY",
                status_message="", user_id=actor.name, created_at=now, updated_at=now,
                tags=clean_tags, **values)
            uow.record("model_version.create", "model_version", f"{name}/{version}",
                       after={**values, "tags": clean_tags})
        # Everything about a new version is known here: no need to read it back.
        return ModelVersion(
            model_name=name, version=version, creation_timestamp=now,
            last_updated_timestamp=now, user_id=actor.name, current_stage=Stage.NONE,
            description=values["description"], source=source, run_id=values["run_id"],
            run_link=values["run_link"], status="READY", status_message="",
            logged_model_id=values["logged_model_id"], tags=dict(sorted(clean_tags.items())))

    def get_model_version(self, actor: Actor, name: str, version: str | int) -> ModelVersion:
        self._require_name(name)
        number = names.parse_version(version)
        found = self._checked_read(actor, name, "model_version.get", "by_number", version=number)
        if found is not None:
            return found
        self._authorize_read(actor, name, "model_version.get")
        with self._read(actor) as repo:
            return repo.get_version(name, number)  # raises the precise not-found error

    def update_model_version(
        self, actor: Actor, name: str, version: str | int, description: str | None
    ) -> ModelVersion:
        self._require_name(name)
        number = names.parse_version(version)
        description = names.validate_description(description)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "model_version.update")
            row = repo.version_row(name, number)
            repo.update_version(row.id, now_ms(), description=description)
            uow.record("model_version.update", "model_version", f"{name}/{number}",
                       before={"description": row.description},
                       after={"description": description})
            return repo.get_version(name, number)

    def transition_model_version_stage(
        self, actor: Actor, name: str, version: str | int, stage: str,
        archive_existing_versions: bool = False, comment: str | None = None,
    ) -> ModelVersion:
        """Move a version between stages; the level needed depends on both stages, and the
        move is written to the version's activity list (with `comment`)."""
        self._require_name(name)
        number = names.parse_version(version)
        target = parse_stage(stage)
        check_archive_existing(target, archive_existing_versions)
        comment = validate_comment(comment)
        with self._write(actor) as (repo, uow):
            level = self._authorize(repo, actor, name, Level.CAN_READ,
                                    "model_version.transition_stage")
            model_id, row = repo.locked_version(name, number)
            needed = level_for_transition(Stage(row.stage), target)
            if level < needed:
                raise authorization.deny(
                    f"User '{actor.name}' does not have permission '{needed.name}' on "
                    f"registered model '{name}', which moving a version from {row.stage} to "
                    f"{target.value} requires.", "model_version.transition_stage",
                    "registered_model", name)
            apply_transition(uow, repo, actor, model_id, row, target, archive_existing_versions,
                             comment, gate=self.gate)
            uow.record("model_version.transition_stage", "model_version", f"{name}/{number}",
                       before={"stage": row.stage},
                       after={"stage": target.value,
                              "archive_existing_versions": archive_existing_versions,
                              **({"comment": comment} if comment else {})})
            return repo.get_version(name, number)

    def delete_model_version(self, actor: Actor, name: str, version: str | int) -> None:
        self._require_name(name)
        number = names.parse_version(version)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_MANAGE, "model_version.delete")
            model_id, row = repo.locked_version(name, number)
            trashed = self.trash.delete_version(uow, WORKSPACE, model_id, name, row.id, number,
                                                repo.model_creator(model_id) or "")
            uow.record("model_version.delete", "model_version", f"{name}/{number}",
                       before={"source": row.source, "stage": row.stage}, after=trashed)

    def get_latest_versions(
        self, actor: Actor, name: str, stages: Iterable[str] | None = None
    ) -> list[ModelVersion]:
        self._require_name(name)
        wanted = {parse_stage(s) for s in stages or ()}
        latest = self._model_with_latest(actor, name, "model_version.get_latest").latest_versions
        # The highest version in each wanted stage is the highest in each stage, filtered.
        return [v for v in latest if not wanted or v.current_stage in wanted]

    def search_model_versions(
        self, actor: Actor, filter_string: str | None = None, max_results: int | None = None,
        order_by: Iterable[str] | None = None, page_token: str | None = None,
    ) -> Page[ModelVersion]:
        clauses = filters.parse_filter(filter_string, filters.VERSION_FILTER)
        if not filters.mentions_tag(clauses, PROMPT_TAG):
            clauses.append(_EXCLUDE_PROMPTS)
        order = filters.parse_order_by(order_by, filters.VERSION_ORDER_FIELDS,
                                       filters.VERSION_TIE_BREAK, filters.VERSION_DEFAULT_ORDER)
        limit = _page_size(max_results, 10_000, MAX_VERSIONS_PAGE, allow_zero=False)
        offset = decode_page_token(page_token)
        readers = self._readers(actor)
        # One statement, run as the point reads are (no unit of work: a consistent snapshot
        # on its own); in a unit of work when it cannot run there.
        shape, build, params = version_search(self.units.database.dialect, WORKSPACE, clauses,
                                              order, offset, limit + 1, readers)
        found = self.units.point_reads.search(shape, build, params)
        if found is not None:
            return _page([version_from_row(row) for row in found], offset, limit)
        with self._read(actor) as repo:
            rows = repo.search_versions(clauses, order, offset, limit + 1, readers)
        return _page(rows, offset, limit)

    def get_model_version_download_uri(self, actor: Actor, name: str, version: str | int) -> str:
        found = self.get_model_version(actor, name, version)
        if not found.source.startswith(_MODELS_SCHEME):
            return found.source
        # Created from another version: where that one's files are (recorded at creation).
        with self._read(actor) as repo:
            return repo.download_location(name, found.version) or found.source

    def _origin_download_uri(self, actor: Actor, source: str) -> str | None:
        """For a `models:/<name>/<version>` or `models:/<name>@<alias>` source, the download
        URI of that version (the caller must be able to read it); None for other sources,
        `models:/m-…` (a logged model in the tracking server) included."""
        if not source.startswith(_MODELS_SCHEME):
            return None
        path = source[len(_MODELS_SCHEME):].lstrip("/")
        name, _, version = path.rpartition("/")
        try:
            if name and version.isdigit():
                return self.get_model_version_download_uri(actor, name, version)
            if "@" in path and "/" not in path:
                name, _, alias = path.rpartition("@")
                found = self.get_model_version_by_alias(actor, name, alias)
                return self.get_model_version_download_uri(actor, name, found.version)
        except ModelyardError as error:
            raise InvalidArgument(
                f"Unable to fetch model from model URI source artifact location '{source}': "
                f"{error.message}") from None
        return None

    def set_model_version_tag(
        self, actor: Actor, name: str, version: str | int, key: str, value: str
    ) -> None:
        self._require_name(name)
        number = names.parse_version(version)
        key, value = names.validate_tag(key, value)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "model_version.set_tag")
            model_id, row = repo.locked_version(name, number)
            repo.set_version_tag(row.id, key, value, now=now_ms(), model_id=model_id)
            uow.record("model_version.set_tag", "model_version", f"{name}/{number}",
                       after={"key": key, "value": value})

    def delete_model_version_tag(
        self, actor: Actor, name: str, version: str | int, key: str
    ) -> None:
        self._require_name(name)
        number = names.parse_version(version)
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "model_version.delete_tag")
            model_id, row = repo.locked_version(name, number)
            repo.delete_version_tag(row.id, key, model_id=model_id)
            uow.record("model_version.delete_tag", "model_version", f"{name}/{number}",
                       before={"key": key})

    # ---- aliases --------------------------------------------------------------------------

    def set_registered_model_alias(
        self, actor: Actor, name: str, alias: str, version: str | int,
        expected: Expected = ANY_TARGET, reason: str | None = None
    ) -> None:
        """Move the alias; with `expected`, only if it still points there (409 otherwise)."""
        self._require_name(name)
        names.validate_alias_name(alias)
        number = names.parse_version(version)
        with self._write(actor, reason) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "registered_model.set_alias")
            # The model's lock, then its version, its alias and the policies: one round trip.
            locked = repo.locked_version_ahead(name, number)
            before = repo.alias_version_ahead(name, alias)
            uow.policies.read_ahead()
            model_id, row = locked()
            aliases.move(uow, WORKSPACE_ALIASES, self.gate, model_id, name, alias, row,
                         expected=expected, before_ahead=before)

    def check_alias_target(self, actor: Actor, name: str, alias: str,
                           version: str | int) -> None:
        """Raises what `set_registered_model_alias` would about the caller and the version,
        changing nothing: the web UI asks this before it asks the user to confirm a move."""
        self._require_name(name)
        names.validate_alias_name(alias)
        number = names.parse_version(version)
        with self.units.read(actor) as uow:
            repo = uow.registry(WORKSPACE)
            self._authorize(repo, actor, name, Level.CAN_EDIT, "registered_model.set_alias")
            row = repo.version_row(name, number)
            domain_aliases.check_target(WORKSPACE_ALIASES, name, alias, number, row.status)
            self.gate.check_alias(uow, WORKSPACE, name, alias, row, audited=False)

    def delete_registered_model_alias(self, actor: Actor, name: str, alias: str) -> None:
        self._require_name(name)
        if not alias:
            raise InvalidArgument("Registered model alias name cannot be empty.")
        with self._write(actor) as (repo, uow):
            self._authorize(repo, actor, name, Level.CAN_EDIT, "registered_model.delete_alias")
            aliases.remove(uow, WORKSPACE_ALIASES, repo.model_id(name, for_update=True), name,
                           alias)

    def get_model_version_by_alias(self, actor: Actor, name: str, alias: str) -> ModelVersion:
        self._require_name(name)
        if alias.lower() != "latest":
            found = self._checked_read(actor, name, "model_version.get_by_alias", "by_alias",
                                       alias=alias)
            if found is not None:
                return found
        self._authorize_read(actor, name, "model_version.get_by_alias")
        with self._read(actor) as repo:
            if alias.lower() == "latest":
                row = repo.highest_version(name)
            else:
                row = repo.version_by_alias(name, alias)
            if row is None:
                repo.model_id(name)  # a missing model is reported as such
                if alias.lower() == "latest":
                    raise version_not_found(name, "latest")
                raise AliasNotFound(f"Registered model alias {alias} not found.")
            return repo.versions_with_details([row])[0]

    # ---- helpers ---------------------------------------------------------------------------

    def _authorize(self, repo: RegistryRepository, actor: Actor, name: str, needed: Level,
                   action: str) -> Level:
        """Raise unless the caller holds `needed` on the model (services/authorization.py)."""
        if actor.is_admin:
            return Level.CAN_MANAGE
        return authorization.require_workspace_model(repo.conn, actor, name, needed, action)

    def _checked_read(self, actor: Actor, name: str, action: str, key: str,
                      **lookup: Any) -> Any:
        """A point read (`PointReads.workspace_checked`'s keys) of what the caller may read:
        the entity, or None when the read finds nothing (the caller then checks access with
        `_authorize_read` before telling what is missing). Raises the refusal of a caller
        without CAN READ: the check's columns come in the same statement."""
        reads = self.units.point_reads
        if actor.is_admin:
            if key == "model_with_latest":
                return reads.model_with_latest(WORKSPACE, name)
            if key == "by_alias":
                return reads.version_by_alias(WORKSPACE, name, lookup["alias"])
            return reads.version_by_number(WORKSPACE, name, lookup["version"])
        found = reads.workspace_checked(key, name, actor.principals, **lookup)
        if found is None:
            return None
        entity, creator, level = found
        self._refuse(actor, authorization.workspace_read_refusal(actor, name, action, creator,
                                                                 level))
        return entity

    def _authorize_read(self, actor: Actor, name: str, action: str) -> None:
        """The point reads run outside a unit of work; check access in one of its own."""
        if actor.is_admin:
            return
        self._refuse(actor, authorization.require_workspace_read_fast(
            self.units.point_reads.workspace_access(name), actor, name, action))

    def _refuse(self, actor: Actor, refusal: ModelyardError | None) -> None:
        """Record a refusal in the audit trail and raise it; nothing for None."""
        if refusal is not None:
            if refusal.denied is not None:
                self.units.record_denied(actor, *refusal.denied)
            raise refusal

    def _model_with_latest(self, actor: Actor, name: str, action: str) -> RegisteredModel:
        """The model with its latest versions, and the CAN READ check, in one point read."""
        model: RegisteredModel | None = self._checked_read(actor, name, action,
                                                           "model_with_latest")
        if model is None:
            self._authorize_read(actor, name, action)
            raise authorization.model_not_found(name)
        return model

    def _readers(self, actor: Actor) -> frozenset[str] | None:
        if actor.is_admin:
            return None
        return authorization.readers_filter(
            actor, self.units.point_reads.workspace_root_level(actor.principals))

    @staticmethod
    def _require_name(name: str) -> None:
        if not name:
            raise InvalidArgument("Registered model name cannot be empty.")


def _page(rows: list[T], offset: int, limit: int) -> Page[T]:
    if len(rows) > limit:
        return Page(rows[:limit], encode_page_token(offset + limit))
    return Page(rows)
