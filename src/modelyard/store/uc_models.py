"""The Unity Catalog models and versions repository (their service: services/uc_models.py).

UC models and versions are rows of the registry core's tables (registry = 'uc', name = the
lower-case three-level name), so aliases, tags and version numbering are shared with
RegistryRepository; this repository adds what Unity Catalog has beyond them: the schema a model
is in, governed storage locations, status, per-file digests and lineage. Reads of many objects
load tags and aliases in one batched query each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    Connection,
    Row,
    Select,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    not_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelyard.domain.catalog import Audit, Lineage, UcModel, UcVersion, VersionFile, VersionStatus
from modelyard.domain.entities import Alias
from modelyard.domain.errors import AlreadyExists, ModelVersionNotFound, RegisteredModelNotFound
from modelyard.domain.filters import PROMPT_TAG
from modelyard.store import model_summary, uc_visibility
from modelyard.store.model_tag_names import rename_tag_owner
from modelyard.store.point_reads import (
    decode_json,
    model_aggregates,
    version_aggregates,
    version_lookups,
)
from modelyard.store.tables import (
    model_version_files,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
    uc_catalogs,
    uc_schemas,
)

UC = "uc"
_PENDING_LITERAL: Any = literal_column(f"'{VersionStatus.PENDING_REGISTRATION.value}'")
cat = uc_catalogs
sch = uc_schemas
rm = registered_models
mv = model_versions
rma = registered_model_aliases
rmt = registered_model_tags
files_table = model_version_files

MODEL_COLUMNS = (rm.c.id, rm.c.uc_id, rm.c.name, rm.c.description, rm.c.storage_location,
                  rm.c.owner, rm.c.user_id, rm.c.created_at, rm.c.updated_at, rm.c.updated_by,
                  rm.c.schema_id)
VERSION_COLUMNS = (mv.c.id, mv.c.model_id, rm.c.name, mv.c.version, mv.c.uc_id, mv.c.source,
                    mv.c.run_id, mv.c.logged_model_id, mv.c.description, mv.c.status,
                    mv.c.status_message, mv.c.storage_location, mv.c.root_digest,
                    mv.c.run_tracking_server_id, mv.c.lineage, mv.c.user_id, mv.c.created_at,
                    mv.c.updated_at, mv.c.updated_by)


def model_not_found(full_name: str) -> RegisteredModelNotFound:
    return RegisteredModelNotFound(f"Registered model not found: {full_name}")


def version_not_found(full_name: str, version: int | str) -> ModelVersionNotFound:
    return ModelVersionNotFound(f"Model version not found: {full_name}/{version}")


class UcModelRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---- models ----------------------------------------------------------------------------

    def insert_model(self, **values: Any) -> int:
        try:
            with self.conn.begin_nested():
                return self.conn.execute(insert(rm).values(
                    registry=UC, last_version=0, **values).returning(rm.c.id)).scalar_one()
        except IntegrityError:
            raise AlreadyExists(f"Registered model already exists: {values['name']}") from None

    def model_row(self, full_name: str, *, for_update: bool = False) -> Row:
        query = select(*MODEL_COLUMNS).where(rm.c.registry == UC, rm.c.name == full_name)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        if row is None:
            raise model_not_found(full_name)
        return row

    def model_exists(self, full_name: str) -> bool:
        return self.conn.execute(select(rm.c.id).where(
            rm.c.registry == UC, rm.c.name == full_name)).first() is not None

    def list_model_rows(self, schema_id: str | None, offset: int, limit: int,
                        readers: frozenset[str] | None = None,
                        prompts: bool = False) -> Sequence[Row]:
        """Models (or, with `prompts`, prompts: models tagged `mlflow.prompt.is_prompt`) in
        name order."""
        is_prompt = exists(select(1).select_from(rmt).where(
            rmt.c.model_id == rm.c.id, rmt.c.key == PROMPT_TAG, rmt.c.value == "true"))
        query = select(*MODEL_COLUMNS).where(rm.c.registry == UC,
                                             is_prompt if prompts else not_(is_prompt))
        if schema_id is not None:
            query = query.where(rm.c.schema_id == schema_id)
        if readers is not None:
            query = (query.join(sch, sch.c.id == rm.c.schema_id)
                     .join(cat, cat.c.id == sch.c.catalog_id)
                     .where(uc_visibility.model_visible(readers)))
        return self.conn.execute(query.order_by(rm.c.name).offset(offset).limit(limit)).all()

    def count_models(self, schema_ids: list[str]) -> int:
        if not schema_ids:
            return 0
        return self.conn.execute(select(func.count()).select_from(rm)
                                 .where(rm.c.schema_id.in_(schema_ids))).scalar_one()

    def model_ids_under(self, schema_ids: list[str]) -> list[int]:
        if not schema_ids:
            return []
        return list(self.conn.execute(
            select(rm.c.id).where(rm.c.schema_id.in_(schema_ids))).scalars())

    def rename_model(self, model_id: int, new_full_name: str, **values: Any) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(update(rm).where(rm.c.id == model_id)
                                  .values(name=new_full_name, **values))
                rename_tag_owner(self.conn, model_id, new_full_name)
        except IntegrityError:
            raise AlreadyExists(f"Registered model already exists: {new_full_name}") from None

    def delete_models(self, model_ids: list[int]) -> None:
        if model_ids:
            # Versions, their tags, files and the aliases go with the model (ON DELETE CASCADE).
            self.conn.execute(delete(rm).where(rm.c.id.in_(model_ids)))

    def models(self, rows: Sequence[Row]) -> list[UcModel]:
        ids = [row.id for row in rows]
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        aliases: dict[int, list[Alias]] = defaultdict(list)
        if ids:
            rmt = registered_model_tags
            for model_id, key, value in self.conn.execute(
                    select(rmt.c.model_id, rmt.c.key, rmt.c.value)
                    .where(rmt.c.model_id.in_(ids)).order_by(rmt.c.key)):
                tags[model_id][key] = value
            for model_id, alias, version in self.conn.execute(
                    select(rma.c.model_id, rma.c.alias, rma.c.version)
                    .where(rma.c.model_id.in_(ids)).order_by(rma.c.alias)):
                aliases[model_id].append(Alias(alias, version))
        return [_model(row, tags.get(row.id, {}), tuple(aliases.get(row.id, ())))
                for row in rows]

    # ---- versions --------------------------------------------------------------------------

    def set_version_lineage(self, version_id: int, lineage: dict[str, Any]) -> None:
        """The version's JSON lineage (Lineage.extra()); not a change of the version itself,
        so its update time stays."""
        self.conn.execute(update(mv).where(mv.c.id == version_id).values(
            lineage=orjson.dumps(lineage).decode() if lineage else None))

    def version_row(self, full_name: str, version: int, *, for_update: bool = False) -> Row:
        query = (select(*VERSION_COLUMNS).join(rm, rm.c.id == mv.c.model_id)
                 .where(rm.c.registry == UC, rm.c.name == full_name, mv.c.version == version))
        if for_update and self.conn.dialect.name == "postgresql":
            # The model's row first, the lock every change of a model takes first (its summary
            # is refreshed under it, store/model_summary.py), then the version's: one order, no
            # deadlock. SQLite's BEGIN IMMEDIATE already serializes writers.
            self.model_row(full_name, for_update=True)
            query = query.with_for_update(of=mv)
        row = self.conn.execute(query).first()
        if row is None:
            self.model_row(full_name)
            raise version_not_found(full_name, version)
        return row

    def list_version_rows(self, model_id: int, offset: int, limit: int,
                          newest_first: bool = False) -> Sequence[Row]:
        return self.conn.execute(
            select(*VERSION_COLUMNS).join(rm, rm.c.id == mv.c.model_id)
            .where(mv.c.model_id == model_id)
            .order_by(mv.c.version.desc() if newest_first else mv.c.version)
            .offset(offset).limit(limit)).all()

    def storage_locations(self, model_ids: list[int]) -> list[str]:
        """Every location the models and their versions own (versions first)."""
        if not model_ids:
            return []
        versions = self.conn.execute(
            select(mv.c.storage_location).where(mv.c.model_id.in_(model_ids))).scalars()
        models = self.conn.execute(
            select(rm.c.storage_location).where(rm.c.id.in_(model_ids))).scalars()
        return [location for location in [*versions, *models] if location]

    def expired_pending(self, created_before: int, limit: int) -> Sequence[Row]:
        return self.conn.execute(
            select(*VERSION_COLUMNS).join(rm, rm.c.id == mv.c.model_id)
            # The status as a literal: the partial index on pending versions matches it.
            .where(rm.c.registry == UC, mv.c.status == _PENDING_LITERAL,
                   mv.c.created_at < created_before)
            .order_by(mv.c.created_at).limit(limit)).all()

    def set_version_status(self, version_id: int, expected: VersionStatus,
                           **values: Any) -> bool:
        """Compare-and-set on status: False when another request changed it first."""
        model_id = model_summary.lock_version_owner(self.conn, version_id)
        result = self.conn.execute(update(mv).where(mv.c.id == version_id,
                                                    mv.c.status == expected.value)
                                   .values(**values))
        if result.rowcount != 1:
            return False
        model_summary.refresh(self.conn, model_id)
        return True

    def versions(self, rows: Sequence[Row]) -> list[UcVersion]:
        ids = [row.id for row in rows]
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        aliases: dict[tuple[int, int], list[str]] = defaultdict(list)
        if ids:
            mvt = model_version_tags
            for version_id, key, value in self.conn.execute(
                    select(mvt.c.version_id, mvt.c.key, mvt.c.value)
                    .where(mvt.c.version_id.in_(ids)).order_by(mvt.c.key)):
                tags[version_id][key] = value
            for model_id, version, alias in self.conn.execute(
                    select(rma.c.model_id, rma.c.version, rma.c.alias)
                    .where(rma.c.model_id.in_({row.model_id for row in rows}))
                    .order_by(rma.c.alias)):
                aliases[(model_id, version)].append(alias)
        return [_version(row, tags.get(row.id, {}), aliases.get((row.model_id, row.version), []))
                for row in rows]

    def insert_files(self, version_id: int, files: list[VersionFile]) -> None:
        if files:
            self.conn.execute(insert(files_table), [
                {"version_id": version_id, "path": f.path, "size": f.size, "sha256": f.sha256}
                for f in files])

    def files(self, version_id: int) -> list[VersionFile]:
        return [VersionFile(path, size, sha256) for path, size, sha256 in self.conn.execute(
            select(files_table.c.path, files_table.c.size, files_table.c.sha256)
            .where(files_table.c.version_id == version_id).order_by(files_table.c.path))]


def point_read_statements(dialect: str) -> dict[str, Select[Any]]:
    """The UC reads `PointReads` precompiles, each one statement: `uc_model` (the model's
    `MODEL_COLUMNS`, then its tags and aliases), `uc_by_number` and `uc_by_alias` (the
    version's `VERSION_COLUMNS`, then its tags and aliases)."""
    model = (select(*MODEL_COLUMNS, *model_aggregates(dialect))
             .where(rm.c.registry == bindparam("registry"), rm.c.name == bindparam("name")))
    by_alias, by_number = version_lookups((*VERSION_COLUMNS, *version_aggregates(dialect)))
    return {"uc_model": model, "uc_by_number": by_number, "uc_by_alias": by_alias}


class ModelRecord(NamedTuple):
    """A row of `MODEL_COLUMNS` as the point reads return it (a plain tuple)."""

    id: int
    uc_id: str | None
    name: str
    description: str
    storage_location: str | None
    owner: str | None
    user_id: str
    created_at: int
    updated_at: int
    updated_by: str | None
    schema_id: str | None


def model_from_point_read(row: tuple[Any, ...]) -> UcModel:
    """The model from a `PointReads.uc_model_row` row: `MODEL_COLUMNS`, then its tags
    ([[key, value]…]) and aliases ([[alias, version]…]) aggregated in any order."""
    *columns, tags, aliases = row
    return _model(ModelRecord(*columns), dict(sorted(decode_json(tags))),
                  tuple(Alias(alias, version) for alias, version in sorted(decode_json(aliases))))


def _model(row: Row | ModelRecord, tags: dict[str, str], aliases: tuple[Alias, ...]) -> UcModel:
    return UcModel(id=row.uc_id or "", full_name=row.name, comment=row.description,
                   storage_location=row.storage_location or "",
                   audit=Audit(owner=row.owner or row.user_id, created_at=row.created_at,
                               created_by=row.user_id, updated_at=row.updated_at,
                               updated_by=row.updated_by or row.user_id),
                   aliases=aliases, tags=tags)


class VersionRecord(NamedTuple):
    """A row of `VERSION_COLUMNS` as the point reads return it (a plain tuple)."""

    id: int
    model_id: int
    name: str
    version: int
    uc_id: str | None
    source: str
    run_id: str
    logged_model_id: str
    description: str
    status: str
    status_message: str
    storage_location: str | None
    root_digest: str | None
    run_tracking_server_id: str | None
    lineage: str | None
    user_id: str
    created_at: int
    updated_at: int
    updated_by: str | None


def version_from_point_read(row: tuple[Any, ...]) -> UcVersion:
    """The version from a `PointReads.uc_version_*` row: `VERSION_COLUMNS`, then the version's
    tags ([[key, value]…]) and aliases ([…]) aggregated in any order."""
    *columns, tags, aliases = row
    return _version(VersionRecord(*columns), dict(sorted(decode_json(tags))),
                    sorted(decode_json(aliases)))


def _version(row: Row | VersionRecord, tags: dict[str, str], aliases: list[str]) -> UcVersion:
    extra = orjson.loads(row.lineage) if row.lineage else {}
    lineage = Lineage(
        run_id=row.run_id, source=row.source, model_id=row.logged_model_id,
        run_tracking_server_id=row.run_tracking_server_id or "",
        run_workspace_id=extra.get("run_workspace_id"),
        model_version_dependencies=extra.get("model_version_dependencies", []),
        datasets=extra.get("datasets", []), copied_from=extra.get("copied_from", ""),
        emitted=extra.get("emitted", []))
    return UcVersion(
        id=row.uc_id or "", full_name=row.name, version=row.version, comment=row.description,
        status=VersionStatus(row.status), status_message=row.status_message,
        storage_location=row.storage_location or "", root_digest=row.root_digest or "",
        lineage=lineage,
        audit=Audit(owner=row.user_id, created_at=row.created_at, created_by=row.user_id,
                    updated_at=row.updated_at, updated_by=row.updated_by or row.user_id),
        aliases=tuple(aliases), tags=tags)
