"""Unity Catalog catalogs and schemas: create, read, list, update, rename, delete, tags.

Deleting with `force` takes every model (and version) below along, and queues their files for
removal in the same transaction; they are removed right after commit (services.storage_gc).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson

from modelyard.domain import names
from modelyard.domain.catalog import (
    Catalog,
    NotEmpty,
    Schema,
    split_schema_name,
    validate_comment,
    validate_name,
    validate_owner,
    validate_properties,
)
from modelyard.domain.clock import now_ms
from modelyard.domain.entities import Page
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.paging import decode_page_token, encode_page_token
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.storage_gc import collect_garbage
from modelyard.services.trash import refuse_held_models
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.storage.base import ArtifactStore
from modelyard.storage.roots import AllowedRoots
from modelyard.store.catalog import CatalogRepository

DEFAULT_PAGE = 100
MAX_PAGE = 1_000


def page_size(max_results: int | None) -> int:
    """UC's rule: absent or 0 means the default page; negative is an error."""
    if max_results is None or max_results == 0:
        return DEFAULT_PAGE
    if max_results < 0:
        raise InvalidArgument("maxResults must be greater than or equal to 0")
    return min(max_results, MAX_PAGE)


def paged(rows: list[Any], offset: int, limit: int) -> Page[Any]:
    if len(rows) > limit:
        return Page(rows[:limit], encode_page_token(offset + limit))
    return Page(rows)


def validated_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    return dict(names.validate_tag(k, v) for k, v in (tags or {}).items())


class CatalogService:
    def __init__(self, units: UnitOfWorkFactory, artifacts: ArtifactStore,
                 roots: AllowedRoots, metastore_id: str = "") -> None:
        self.units = units
        self.artifacts = artifacts
        self.roots = roots
        #: Made once and kept in the database (bootstrap.build), the same on every replica.
        self._metastore_id = metastore_id

    @contextmanager
    def _write(self, actor: Actor) -> Iterator[tuple[CatalogRepository, UnitOfWork]]:
        with self.units.write(actor) as uow:
            yield uow.catalog, uow

    @contextmanager
    def _read(self, actor: Actor) -> Iterator[CatalogRepository]:
        with self.units.read(actor) as uow:
            yield uow.catalog

    def _audit(self, actor: Actor, now: int) -> dict[str, Any]:
        return {"owner": actor.name, "created_at": now, "created_by": actor.name,
                "updated_at": now, "updated_by": actor.name}

    # ---- the metastore ---------------------------------------------------------------------

    def metastore_id(self) -> str:
        """The metastore's id, the same on every replica and after every restart. Anyone signed
        in may read it, as in UC."""
        return self._metastore_id

    # ---- catalogs --------------------------------------------------------------------------

    def create_catalog(self, actor: Actor, name: str, comment: str | None = None,
                       properties: Mapping[str, str] | None = None,
                       storage_root: str | None = None,
                       tags: Mapping[str, str] | None = None) -> Catalog:
        name = validate_name(name)
        values: dict[str, Any] = {"comment": validate_comment(comment),
                                  "properties": validate_properties(properties)}
        clean_tags = validated_tags(tags)
        catalog_id = str(uuid.uuid4())
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "catalog.create")
            # Only now, for a caller who may create it (and without touching storage).
            values["storage_root"] = self.roots.normalize(storage_root)
            location = (f"{values['storage_root']}/__unitystorage/catalogs/{catalog_id}"
                        if values["storage_root"] else None)
            repo.insert_catalog(id=catalog_id, name=name, storage_location=location,
                                **{**values, "properties": orjson.dumps(values["properties"])
                                   .decode()}, **self._audit(actor, now_ms()))
            for key, value in clean_tags.items():
                repo.set_securable_tag("catalog", catalog_id, key, value)
            uow.record("catalog.create", "catalog", name, after={**values, "tags": clean_tags})
            return repo.catalogs([repo.catalog_row(name)])[0]

    def allowed(self, actor: Actor, full_name: str, ops: Iterable[str]) -> dict[str, bool]:
        """Which of `ops` ("catalog.create" on "", "schema.create" on a catalog, …) the caller
        may do: the web UI offers only those forms."""
        with self._read(actor) as repo:
            return {op: authorization.uc_may(repo.conn, actor, op, full_name) for op in ops}

    def get_catalog(self, actor: Actor, name: str) -> Catalog:
        name = validate_name(name)
        with self._read(actor) as repo:
            authorization.require_uc(repo.conn, actor, "catalog.read", name)
            return repo.catalogs([repo.catalog_row(name)])[0]

    def list_catalogs(self, actor: Actor, max_results: int | None = None,
                      page_token: str | None = None) -> Page[Catalog]:
        limit, offset = page_size(max_results), decode_page_token(page_token)
        with self._read(actor) as repo:
            # Only what the caller may see, filtered in the query so that pages are full.
            rows = repo.catalogs(repo.list_catalog_rows(offset, limit + 1,
                                                        authorization.uc_readers(actor)))
        return paged(rows, offset, limit)

    def update_catalog(self, actor: Actor, name: str, comment: str | None = None,
                       properties: Mapping[str, str] | None = None,
                       new_name: str | None = None, owner: str | None = None) -> Catalog:
        name = validate_name(name)
        changes = _changes(actor, comment, properties, new_name, owner)
        with self._write(actor) as (repo, uow):
            _authorize_update(repo, actor, "catalog", name, changes)
            row = repo.catalog_row(name)
            repo.update_catalog(row.id, updated_at=now_ms(), updated_by=actor.name,
                                **_stored(changes))
            if changes.get("name", name) != name:
                repo.rename_models_under(repo.schema_ids(row.id), 1, changes["name"])
            uow.record("catalog.update", "catalog", changes.get("name", name),
                       before={k: getattr(row, k) for k in changes}, after=changes)
            return repo.catalogs([repo.catalog_row(changes.get("name", name))])[0]

    def delete_catalog(self, actor: Actor, name: str, force: bool = False) -> list[str]:
        """Returns the storage locations removed with it."""
        name = validate_name(name)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "catalog.manage", name)
            row = repo.catalog_row(name)
            schema_ids = repo.schema_ids(row.id)
            if schema_ids and not force:
                raise NotEmpty(f"Cannot delete catalog with schemas: {name}. "
                               "Use force=true to delete it with everything in it.")
            locations = self._drop_models(uow, schema_ids)
            repo.delete_schemas(schema_ids)
            repo.delete_securable_tag_all("catalog", row.id)
            repo.delete_catalog(row.id)
            uow.record("catalog.delete", "catalog", name, before={"force": force})
        collect_garbage(self.units.database, self.artifacts)
        return locations

    # ---- schemas ---------------------------------------------------------------------------

    def create_schema(self, actor: Actor, catalog_name: str, name: str,
                      comment: str | None = None, properties: Mapping[str, str] | None = None,
                      storage_root: str | None = None,
                      tags: Mapping[str, str] | None = None) -> Schema:
        catalog_name = validate_name(catalog_name, "catalog_name")
        name = validate_name(name)
        values: dict[str, Any] = {"comment": validate_comment(comment),
                                  "properties": validate_properties(properties)}
        clean_tags = validated_tags(tags)
        schema_id = str(uuid.uuid4())
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "schema.create", catalog_name)
            catalog = repo.catalog_row(catalog_name)
            # Only now, for a caller who may create it in a catalog that exists.
            values["storage_root"] = self.roots.normalize(storage_root)
            location = (f"{values['storage_root']}/__unitystorage/schemas/{schema_id}"
                        if values["storage_root"] else None)
            repo.insert_schema(id=schema_id, catalog_id=catalog.id, name=name,
                               storage_location=location,
                               **{**values, "properties": orjson.dumps(values["properties"])
                                  .decode()}, **self._audit(actor, now_ms()))
            for key, value in clean_tags.items():
                repo.set_securable_tag("schema", schema_id, key, value)
            uow.record("schema.create", "schema", f"{catalog_name}.{name}",
                       after={**values, "tags": clean_tags})
            return repo.schemas([repo.schema_row(catalog_name, name)])[0]

    def get_schema(self, actor: Actor, full_name: str) -> Schema:
        catalog_name, name = split_schema_name(full_name)
        with self._read(actor) as repo:
            authorization.require_uc(repo.conn, actor, "schema.read", f"{catalog_name}.{name}")
            return repo.schemas([repo.schema_row(catalog_name, name)])[0]

    def list_schemas(self, actor: Actor, catalog_name: str, max_results: int | None = None,
                     page_token: str | None = None) -> Page[Schema]:
        catalog_name = validate_name(catalog_name, "catalog_name")
        limit, offset = page_size(max_results), decode_page_token(page_token)
        with self._read(actor) as repo:
            authorization.require_uc(repo.conn, actor, "catalog.read", catalog_name)
            catalog = repo.catalog_row(catalog_name)
            rows = repo.schemas(repo.list_schema_rows(catalog.id, offset, limit + 1,
                                                      authorization.uc_readers(actor)))
        return paged(rows, offset, limit)

    def update_schema(self, actor: Actor, full_name: str, comment: str | None = None,
                      properties: Mapping[str, str] | None = None,
                      new_name: str | None = None, owner: str | None = None) -> Schema:
        catalog_name, name = split_schema_name(full_name)
        changes = _changes(actor, comment, properties, new_name, owner)
        with self._write(actor) as (repo, uow):
            _authorize_update(repo, actor, "schema", f"{catalog_name}.{name}", changes)
            row = repo.schema_row(catalog_name, name)
            repo.update_schema(row.id, updated_at=now_ms(), updated_by=actor.name,
                               **_stored(changes))
            new = changes.get("name", name)
            if new != name:
                repo.rename_models_under([row.id], 2, f"{catalog_name}.{new}")
            uow.record("schema.update", "schema", f"{catalog_name}.{new}",
                       before={k: getattr(row, k) for k in changes}, after=changes)
            return repo.schemas([repo.schema_row(catalog_name, new)])[0]

    def delete_schema(self, actor: Actor, full_name: str, force: bool = False) -> list[str]:
        catalog_name, name = split_schema_name(full_name)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "schema.manage", f"{catalog_name}.{name}")
            row = repo.schema_row(catalog_name, name)
            if uow.uc_models.count_models([row.id]) and not force:
                raise NotEmpty(f"Cannot delete schema with models: {catalog_name}.{name}. "
                               "Use force=true to delete it with its models.")
            locations = self._drop_models(uow, [row.id])
            repo.delete_schemas([row.id])
            uow.record("schema.delete", "schema", f"{catalog_name}.{name}",
                       before={"force": force})
        collect_garbage(self.units.database, self.artifacts)
        return locations

    # ---- tags ------------------------------------------------------------------------------

    def set_tag(self, actor: Actor, kind: str, full_name: str, key: str, value: str) -> None:
        key, value = names.validate_tag(key, value)
        with self._write(actor) as (repo, uow):
            if kind in ("catalog", "schema"):
                authorization.require_uc(repo.conn, actor, f"{kind}.tag", full_name)
            securable_id = self._securable_id(repo, kind, full_name)
            repo.set_securable_tag(kind, securable_id, key, value)
            uow.record(f"{kind}.set_tag", kind, full_name, after={"key": key, "value": value})

    def delete_tag(self, actor: Actor, kind: str, full_name: str, key: str) -> None:
        with self._write(actor) as (repo, uow):
            if kind in ("catalog", "schema"):
                authorization.require_uc(repo.conn, actor, f"{kind}.tag", full_name)
            repo.delete_securable_tag(kind, self._securable_id(repo, kind, full_name), key)
            uow.record(f"{kind}.delete_tag", kind, full_name, before={"key": key})

    @staticmethod
    def _securable_id(repo: CatalogRepository, kind: str, full_name: str) -> str:
        if kind == "catalog":
            return str(repo.catalog_row(validate_name(full_name)).id)
        if kind == "schema":
            return str(repo.schema_row(*split_schema_name(full_name)).id)
        raise InvalidArgument(f"Unknown securable type '{kind}'.")

    @staticmethod
    def _drop_models(uow: UnitOfWork, schema_ids: list[str]) -> list[str]:
        """Delete every model below the schemas; queue their files (same transaction)."""
        models = uow.uc_models
        model_ids = models.model_ids_under(schema_ids)
        refuse_held_models(uow, "uc", model_ids, "the models below it")
        locations = models.storage_locations(model_ids)
        uow.catalog.queue_garbage(locations, "deleted", now_ms())
        models.delete_models(model_ids)
        return locations


# ---- updating a catalog or a schema: the same fields, the same rules ----------------------

def _changes(actor: Actor, comment: str | None, properties: Mapping[str, str] | None,
             new_name: str | None, owner: str | None) -> dict[str, Any]:
    """The fields an update gives, validated (an empty owner means the caller)."""
    changes: dict[str, Any] = {}
    if comment is not None:
        changes["comment"] = validate_comment(comment)
    if properties is not None:
        changes["properties"] = validate_properties(properties)
    if owner is not None:
        changes["owner"] = validate_owner(owner) if owner else actor.name
    if new_name:
        changes["name"] = validate_name(new_name, "new_name")
    return changes


def _authorize_update(repo: CatalogRepository, actor: Actor, kind: str, securable: str,
                      changes: dict[str, Any]) -> None:
    """Updating needs MANAGE on the catalog or schema; changing its owner, ownership too."""
    authorization.require_uc(repo.conn, actor, f"{kind}.manage", securable)
    if "owner" in changes:
        authorization.require_uc(repo.conn, actor, f"{kind}.own", securable)


def _stored(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as stored: properties as JSON text."""
    if "properties" not in changes:
        return changes
    return {**changes, "properties": orjson.dumps(changes["properties"]).decode()}
