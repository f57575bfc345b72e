"""The registry repository: registered models, versions, tags and aliases.

Each method runs on a connection inside a unit of work (store.database). Reads that return many
objects load their tags, aliases and latest versions in one batched query each, never one query
per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from modelyard.domain.entities import Alias, ModelVersion, RegisteredModel
from modelyard.domain.errors import (
    AlreadyExists,
    ModelVersionNotFound,
    RegisteredModelNotFound,
)
from modelyard.domain.filters import Clause, OrderKey
from modelyard.domain.stages import Stage
from modelyard.store.filter_sql import clauses_to_sql
from modelyard.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

rm = registered_models
mv = model_versions
rmt = registered_model_tags
mvt = model_version_tags
rma = registered_model_aliases

_MODEL_COLUMNS = (rm.c.id, rm.c.name, rm.c.description, rm.c.user_id, rm.c.created_at,
                  rm.c.updated_at)
_VERSION_COLUMNS = (mv.c.id, mv.c.model_id, rm.c.name, mv.c.version, mv.c.source, mv.c.run_id,
                    mv.c.run_link, mv.c.logged_model_id, mv.c.description, mv.c.stage,
                    mv.c.status, mv.c.status_message, mv.c.user_id, mv.c.created_at,
                    mv.c.updated_at)
_MODEL_ORDER_COLUMNS = {"name": rm.c.name, "last_updated_timestamp": rm.c.updated_at}
_VERSION_ORDER_COLUMNS = {"name": rm.c.name, "version_number": mv.c.version,
                          "creation_timestamp": mv.c.created_at,
                          "last_updated_timestamp": mv.c.updated_at}
_VERSION_FILTER_COLUMNS = {"name": rm.c.name, "run_id": mv.c.run_id, "source_path": mv.c.source,
                           "version_number": mv.c.version}


def _model_not_found(name: str) -> RegisteredModelNotFound:
    return RegisteredModelNotFound(f"Registered Model with name={name} not found")


def version_not_found(name: str, version: int | str) -> ModelVersionNotFound:
    return ModelVersionNotFound(f"Model Version (name={name}, version={version}) not found")


def _version_entity(row: Row, tags: dict[str, str], aliases: Sequence[str]) -> ModelVersion:
    return ModelVersion(
        model_name=row.name, version=row.version, creation_timestamp=row.created_at,
        last_updated_timestamp=row.updated_at, user_id=row.user_id,
        current_stage=Stage(row.stage), description=row.description, source=row.source,
        run_id=row.run_id, run_link=row.run_link, status=row.status,
        status_message=row.status_message, logged_model_id=row.logged_model_id,
        tags=tags, aliases=tuple(aliases),
    )


class RegistryRepository:
    """Queries and changes for one registry namespace (`workspace` or `uc`)."""

    def __init__(self, conn: Connection, registry: str = "workspace") -> None:
        self.conn = conn
        self.registry = registry

    # ---- registered models ----------------------------------------------------------------

    def model_id(self, name: str, *, for_update: bool = False) -> int:
        query = select(rm.c.id).where(rm.c.registry == self.registry, rm.c.name == name)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        model_id = self.conn.execute(query).scalar()
        if model_id is None:
            raise _model_not_found(name)
        return model_id

    def insert_model(self, name: str, description: str, user_id: str, now: int) -> int:
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(insert(rm).values(
                    registry=self.registry, name=name, description=description, user_id=user_id,
                    created_at=now, updated_at=now, last_version=0,
                ).returning(rm.c.id))
                return result.scalar_one()
        except IntegrityError:
            raise AlreadyExists(f"Registered Model (name={name}) already exists.") from None

    def rename_model(self, model_id: int, new_name: str, now: int) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(update(rm).where(rm.c.id == model_id)
                                  .values(name=new_name, updated_at=now))
        except IntegrityError:
            raise AlreadyExists(f"Registered Model (name={new_name}) already exists.") from None

    def update_model(self, model_id: int, now: int, **values: Any) -> None:
        self.conn.execute(update(rm).where(rm.c.id == model_id).values(updated_at=now, **values))

    def delete_model(self, model_id: int) -> None:
        self.conn.execute(delete(rm).where(rm.c.id == model_id))

    def get_model(self, name: str) -> RegisteredModel:
        row = self.conn.execute(select(*_MODEL_COLUMNS).where(
            rm.c.registry == self.registry, rm.c.name == name)).first()
        if row is None:
            raise _model_not_found(name)
        return self._models_with_details([row])[0]

    def search_models(
        self, clauses: list[Clause], order: list[OrderKey], offset: int, limit: int
    ) -> list[RegisteredModel]:
        conditions = clauses_to_sql(clauses, {"name": rm.c.name}, rmt, "model_id", rm.c.id)
        query = (select(*_MODEL_COLUMNS).where(rm.c.registry == self.registry, *conditions)
                 .order_by(*self._order(order, _MODEL_ORDER_COLUMNS))
                 .offset(offset).limit(limit))
        return self._models_with_details(self.conn.execute(query).all())

    def _models_with_details(self, rows: Sequence[Row]) -> list[RegisteredModel]:
        ids = [row.id for row in rows]
        tags = self._tags(rmt, rmt.c.model_id, ids)
        aliases: dict[int, list[Alias]] = defaultdict(list)
        latest: dict[int, list[ModelVersion]] = defaultdict(list)
        if ids:
            for model_id, alias, version in self.conn.execute(
                select(rma.c.model_id, rma.c.alias, rma.c.version)
                .where(rma.c.model_id.in_(ids)).order_by(rma.c.model_id, rma.c.alias)
            ):
                aliases[model_id].append(Alias(alias, version))
            for version in self.latest_versions(ids, None):
                latest[version[0]].append(version[1])
        return [
            RegisteredModel(
                name=row.name, creation_timestamp=row.created_at,
                last_updated_timestamp=row.updated_at, user_id=row.user_id,
                description=row.description, tags=tags.get(row.id, {}),
                aliases=tuple(aliases.get(row.id, ())),
                latest_versions=tuple(latest.get(row.id, ())),
            )
            for row in rows
        ]

    def set_model_tag(self, model_id: int, key: str, value: str) -> None:
        self._upsert(rmt, {"model_id": model_id, "key": key, "value": value},
                     ["model_id", "key"], {"value": value})

    def delete_model_tag(self, model_id: int, key: str) -> None:
        self.conn.execute(delete(rmt).where(rmt.c.model_id == model_id, rmt.c.key == key))

    # ---- model versions -------------------------------------------------------------------

    def allocate_version(self, model_id: int, now: int) -> int:
        """Hand out the next version number; the row lock serializes concurrent creators."""
        return self.conn.execute(
            update(rm).where(rm.c.id == model_id)
            .values(last_version=rm.c.last_version + 1, updated_at=now)
            .returning(rm.c.last_version)
        ).scalar_one()

    def insert_version(self, **values: Any) -> int:
        return self.conn.execute(insert(mv).values(**values).returning(mv.c.id)).scalar_one()

    def version_row(self, name: str, version: int) -> Row:
        row = self.conn.execute(
            select(*_VERSION_COLUMNS).join(rm, rm.c.id == mv.c.model_id)
            .where(rm.c.registry == self.registry, rm.c.name == name, mv.c.version == version)
        ).first()
        if row is None:
            # Tell a missing model from a missing version, as MLflow does.
            self.model_id(name)
            raise version_not_found(name, version)
        return row

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self.versions_with_details([self.version_row(name, version)])[0]

    def version_by_alias(self, name: str, alias: str) -> Row | None:
        return self.conn.execute(
            select(*_VERSION_COLUMNS)
            .select_from(rma.join(rm, rm.c.id == rma.c.model_id)
                         .join(mv, and_(mv.c.model_id == rma.c.model_id,
                                        mv.c.version == rma.c.version)))
            .where(rm.c.registry == self.registry, rm.c.name == name, rma.c.alias == alias)
        ).first()

    def highest_version(self, name: str) -> Row | None:
        return self.conn.execute(
            select(*_VERSION_COLUMNS).join(rm, rm.c.id == mv.c.model_id)
            .where(rm.c.registry == self.registry, rm.c.name == name)
            .order_by(mv.c.version.desc()).limit(1)
        ).first()

    def update_version(self, version_id: int, now: int, **values: Any) -> None:
        self.conn.execute(update(mv).where(mv.c.id == version_id).values(updated_at=now, **values))

    def archive_stage(self, model_id: int, stage: Stage, except_version: int, now: int) -> None:
        self.conn.execute(
            update(mv)
            .where(mv.c.model_id == model_id, mv.c.stage == stage.value,
                   mv.c.version != except_version)
            .values(stage=Stage.ARCHIVED.value, updated_at=now)
        )

    def delete_version(self, version_id: int, model_id: int, version: int) -> None:
        self.conn.execute(delete(rma).where(rma.c.model_id == model_id, rma.c.version == version))
        self.conn.execute(delete(mv).where(mv.c.id == version_id))

    def latest_versions(
        self, model_ids: list[int], stages: Iterable[Stage] | None
    ) -> list[tuple[int, ModelVersion]]:
        """The highest version in each stage, for each model (stages=None: every stage)."""
        newest = (select(mv.c.model_id, mv.c.stage, func.max(mv.c.version).label("version"))
                  .where(mv.c.model_id.in_(model_ids)))
        if stages is not None:
            newest = newest.where(mv.c.stage.in_([s.value for s in stages]))
        newest_sq = newest.group_by(mv.c.model_id, mv.c.stage).subquery()
        rows = self.conn.execute(
            select(*_VERSION_COLUMNS)
            .select_from(newest_sq.join(mv, and_(mv.c.model_id == newest_sq.c.model_id,
                                                 mv.c.version == newest_sq.c.version))
                         .join(rm, rm.c.id == mv.c.model_id))
            .order_by(mv.c.model_id, mv.c.version)
        ).all()
        return list(zip((row.model_id for row in rows), self.versions_with_details(rows),
                        strict=True))

    def search_versions(
        self, clauses: list[Clause], order: list[OrderKey], offset: int, limit: int
    ) -> list[ModelVersion]:
        conditions = clauses_to_sql(clauses, _VERSION_FILTER_COLUMNS, mvt, "version_id", mv.c.id)
        query = (select(*_VERSION_COLUMNS).join(rm, rm.c.id == mv.c.model_id)
                 .where(rm.c.registry == self.registry, *conditions)
                 .order_by(*self._order(order, _VERSION_ORDER_COLUMNS))
                 .offset(offset).limit(limit))
        return self.versions_with_details(self.conn.execute(query).all())

    def versions_with_details(self, rows: Sequence[Row]) -> list[ModelVersion]:
        tags = self._tags(mvt, mvt.c.version_id, [row.id for row in rows])
        aliases: dict[tuple[int, int], list[str]] = defaultdict(list)
        model_ids = {row.model_id for row in rows}
        if model_ids:
            for model_id, version, alias in self.conn.execute(
                select(rma.c.model_id, rma.c.version, rma.c.alias)
                .where(rma.c.model_id.in_(model_ids)).order_by(rma.c.alias)
            ):
                aliases[(model_id, version)].append(alias)
        return [_version_entity(row, tags.get(row.id, {}), aliases.get((row.model_id, row.version),
                                                                          ()))
                for row in rows]

    def set_version_tag(self, version_id: int, key: str, value: str) -> None:
        self._upsert(mvt, {"version_id": version_id, "key": key, "value": value},
                     ["version_id", "key"], {"value": value})

    def delete_version_tag(self, version_id: int, key: str) -> None:
        self.conn.execute(delete(mvt).where(mvt.c.version_id == version_id, mvt.c.key == key))

    def insert_version_tags(self, version_id: int, tags: dict[str, str]) -> None:
        if tags:
            self.conn.execute(insert(mvt), [{"version_id": version_id, "key": k, "value": v}
                                            for k, v in tags.items()])

    def insert_model_tags(self, model_id: int, tags: dict[str, str]) -> None:
        if tags:
            self.conn.execute(insert(rmt), [{"model_id": model_id, "key": k, "value": v}
                                            for k, v in tags.items()])

    # ---- aliases --------------------------------------------------------------------------

    def set_alias(self, model_id: int, alias: str, version: int) -> None:
        self._upsert(rma, {"model_id": model_id, "alias": alias, "version": version},
                     ["model_id", "alias"], {"version": version})

    def delete_alias(self, model_id: int, alias: str) -> None:
        self.conn.execute(delete(rma).where(rma.c.model_id == model_id, rma.c.alias == alias))

    # ---- helpers ---------------------------------------------------------------------------

    def _tags(self, table: Any, owner: Any, ids: list[int]) -> dict[int, dict[str, str]]:
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        if ids:
            for owner_id, key, value in self.conn.execute(
                select(owner, table.c.key, table.c.value).where(owner.in_(ids))
                .order_by(owner, table.c.key)
            ):
                tags[owner_id][key] = value
        return tags

    @staticmethod
    def _order(order: list[OrderKey], columns: dict[str, Any]) -> list[Any]:
        return [columns[name].desc() if descending else columns[name].asc()
                for name, descending in order]

    def _upsert(self, table: Any, values: dict[str, Any], keys: list[str],
                changes: dict[str, Any]) -> None:
        dialect_insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(table).values(**values)
        self.conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))
