"""The Unity Catalog hierarchy's repository: catalogs, schemas, their tags, the renaming of
the models under them, and the queue of governed storage locations to remove.

The models and versions in that hierarchy have their own repository (store/uc_models.py).
Reads of many objects load tags in one batched query each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.domain.catalog import (
    Audit,
    Catalog,
    CatalogAlreadyExists,
    CatalogNotFound,
    Schema,
    SchemaAlreadyExists,
    SchemaNotFound,
)
from modelyard.store import uc_visibility
from modelyard.store.database import upsert_insert
from modelyard.store.model_tag_names import rename_tag_owner
from modelyard.store.tables import (
    model_version_files,
    model_versions,
    registered_model_aliases,
    registered_models,
    storage_garbage,
    uc_catalogs,
    uc_schemas,
    uc_securable_tags,
)

UC = "uc"
cat = uc_catalogs
sch = uc_schemas
rm = registered_models
mv = model_versions
rma = registered_model_aliases
tags_table = uc_securable_tags
files_table = model_version_files
garbage = storage_garbage

_SCHEMA_COLUMNS = (*sch.c, cat.c.name.label("catalog_name"))
def _audit(row: Row, owner: str | None = None, created_by: str | None = None) -> Audit:
    mapping = row._mapping
    return Audit(
        owner=owner if owner is not None else mapping["owner"],
        created_at=mapping["created_at"],
        created_by=created_by if created_by is not None else mapping["created_by"],
        updated_at=mapping["updated_at"],
        updated_by=mapping["updated_by"] or "",
    )


class CatalogRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---- catalogs --------------------------------------------------------------------------

    def insert_catalog(self, **values: Any) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(cat).values(**values))
        except IntegrityError:
            raise CatalogAlreadyExists(f"Catalog already exists: {values['name']}") from None

    def catalog_row(self, name: str) -> Row:
        row = self.conn.execute(select(cat).where(cat.c.name == name)).first()
        if row is None:
            raise CatalogNotFound(f"Catalog not found: {name}")
        return row

    def list_catalog_rows(self, offset: int, limit: int,
                          readers: frozenset[str] | None = None) -> Sequence[Row]:
        """Catalogs in name order; with `readers` (the caller's name and groups) only those
        they may see, so that offsets count visible catalogs only."""
        query = select(cat)
        if readers is not None:
            query = query.where(uc_visibility.catalog_visible(readers))
        return self.conn.execute(query.order_by(cat.c.name).offset(offset).limit(limit)).all()

    def update_catalog(self, catalog_id: str, **values: Any) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(update(cat).where(cat.c.id == catalog_id).values(**values))
        except IntegrityError:
            raise CatalogAlreadyExists(f"Catalog already exists: {values.get('name')}") from None

    def delete_catalog(self, catalog_id: str) -> None:
        self.conn.execute(delete(cat).where(cat.c.id == catalog_id))

    def catalogs(self, rows: Sequence[Row]) -> list[Catalog]:
        tags = self.securable_tags("catalog", [row.id for row in rows])
        return [Catalog(id=row.id, name=row.name, comment=row.comment,
                        properties=orjson.loads(row.properties), storage_root=row.storage_root,
                        storage_location=row.storage_location, audit=_audit(row),
                        tags=tags.get(row.id, {}))
                for row in rows]

    # ---- schemas ---------------------------------------------------------------------------

    def insert_schema(self, **values: Any) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(sch).values(**values))
        except IntegrityError:
            raise SchemaAlreadyExists(f"Schema already exists: {values['name']}") from None

    def schema_row(self, catalog_name: str, name: str) -> Row:
        row = self.conn.execute(
            select(*_SCHEMA_COLUMNS).join(cat, cat.c.id == sch.c.catalog_id)
            .where(cat.c.name == catalog_name, sch.c.name == name)).first()
        if row is None:
            self.catalog_row(catalog_name)
            raise SchemaNotFound(f"Schema not found: {catalog_name}.{name}")
        return row

    def list_schema_rows(self, catalog_id: str, offset: int, limit: int,
                         readers: frozenset[str] | None = None) -> Sequence[Row]:
        query = (select(*_SCHEMA_COLUMNS).join(cat, cat.c.id == sch.c.catalog_id)
                 .where(sch.c.catalog_id == catalog_id))
        if readers is not None:
            query = query.where(uc_visibility.schema_visible(readers))
        return self.conn.execute(query.order_by(sch.c.name).offset(offset).limit(limit)).all()

    def schema_ids(self, catalog_id: str) -> list[str]:
        return list(self.conn.execute(
            select(sch.c.id).where(sch.c.catalog_id == catalog_id)).scalars())

    def update_schema(self, schema_id: str, **values: Any) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(update(sch).where(sch.c.id == schema_id).values(**values))
        except IntegrityError:
            raise SchemaAlreadyExists(f"Schema already exists: {values.get('name')}") from None

    def delete_schemas(self, schema_ids: list[str]) -> None:
        if schema_ids:
            self.conn.execute(delete(tags_table).where(tags_table.c.securable_type == "schema",
                                                       tags_table.c.securable_id.in_(schema_ids)))
            self.conn.execute(delete(sch).where(sch.c.id.in_(schema_ids)))

    def schemas(self, rows: Sequence[Row]) -> list[Schema]:
        tags = self.securable_tags("schema", [row.id for row in rows])
        return [Schema(id=row.id, catalog_name=row.catalog_name, name=row.name,
                       comment=row.comment, properties=orjson.loads(row.properties),
                       storage_root=row.storage_root, storage_location=row.storage_location,
                       audit=_audit(row), tags=tags.get(row.id, {}))
                for row in rows]

    def rename_models_under(self, schema_ids: list[str], depth: int, new_prefix: str) -> None:
        """After a catalog (depth 1) or schema (depth 2) rename, fix the models' full names."""
        if not schema_ids:
            return
        for model_id, name in self.conn.execute(
                select(rm.c.id, rm.c.name).where(rm.c.schema_id.in_(schema_ids))).all():
            rest = name.split(".")[depth:]
            new_name = ".".join([new_prefix, *rest])
            self.conn.execute(update(rm).where(rm.c.id == model_id).values(name=new_name))
            rename_tag_owner(self.conn, model_id, new_name)

    # ---- tags on catalogs and schemas ------------------------------------------------------

    def securable_tags(self, kind: str, ids: list[str]) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = defaultdict(dict)
        if ids:
            for owner_id, key, value in self.conn.execute(
                    select(tags_table.c.securable_id, tags_table.c.key, tags_table.c.value)
                    .where(tags_table.c.securable_type == kind,
                           tags_table.c.securable_id.in_(ids))
                    .order_by(tags_table.c.key)):
                result[owner_id][key] = value
        return result

    def set_securable_tag(self, kind: str, securable_id: str, key: str, value: str) -> None:
        self._upsert(tags_table, {"securable_type": kind, "securable_id": securable_id,
                                  "key": key, "value": value},
                     ["securable_type", "securable_id", "key"], {"value": value})

    def delete_securable_tag(self, kind: str, securable_id: str, key: str) -> None:
        self.conn.execute(delete(tags_table).where(
            tags_table.c.securable_type == kind, tags_table.c.securable_id == securable_id,
            tags_table.c.key == key))

    def delete_securable_tag_all(self, kind: str, securable_id: str) -> None:
        self.conn.execute(delete(tags_table).where(tags_table.c.securable_type == kind,
                                                   tags_table.c.securable_id == securable_id))

    # ---- storage garbage -------------------------------------------------------------------

    def queue_garbage(self, locations: list[str], reason: str, now: int) -> None:
        for location in dict.fromkeys(locations):
            self._upsert(garbage, {"location": location, "reason": reason, "queued_at": now},
                         ["location"], {"reason": reason})

    def garbage_batch(self, limit: int, after: str = "") -> list[str]:
        """Queued locations in name order, starting after `after` (keyset paging, so a sweep
        moves past locations it could not remove)."""
        return list(self.conn.execute(
            select(garbage.c.location).where(garbage.c.location > after)
            .order_by(garbage.c.location).limit(limit)).scalars())

    def storage_roots(self) -> list[str]:
        """Every storage root a catalog or schema has of its own (few: one per such object)."""
        query = (select(cat.c.storage_root)
                 .where(cat.c.storage_root.is_not(None))
                 .union(select(sch.c.storage_root)
                        .where(sch.c.storage_root.is_not(None))))
        return sorted(self.conn.execute(query).scalars())

    def remove_garbage(self, locations: list[str]) -> None:
        if locations:
            self.conn.execute(delete(garbage).where(garbage.c.location.in_(locations)))

    def _upsert(self, table: Any, values: dict[str, Any], keys: list[str],
                changes: dict[str, Any]) -> None:
        dialect_insert = upsert_insert(self.conn.dialect.name)
        statement = dialect_insert(table).values(**values)
        self.conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))
