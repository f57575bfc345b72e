"""The trash and legal holds repository (their service: services/trash.py).

A trashed model keeps its row, its versions, tags, aliases, files and permission levels; only
its `registry` becomes `trash:<item id>` (and its schema NULL), which no query of either
registry matches. A trashed version moves to a holder row of that kind; its aliases are removed
from the model (and remembered on the item). Restoring undoes either; purging deletes the rows
(ON DELETE CASCADE takes versions, tags, files and activities along).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from modelyard.domain.trash import Hold, TrashItem, trash_registry
from modelyard.store import model_summary
from modelyard.store.model_tag_names import rename_tag_owner
from modelyard.store.tables import (
    legal_holds,
    model_versions,
    registered_model_aliases,
    registered_models,
    trash_items,
    uc_catalogs,
    uc_schemas,
    workspace_permissions,
)

ti, lh, rm, mv, rma = (trash_items, legal_holds, registered_models, model_versions,
                       registered_model_aliases)


def _item(row: Row) -> TrashItem:
    return TrashItem(id=row.id, registry=row.registry, name=row.name, version=row.version,
                     deleted_by=row.deleted_by, deleted_at=row.deleted_at,
                     expires_at=row.expires_at, owner=row.owner,
                     aliases=[(a, v) for a, v in orjson.loads(row.aliases or "[]")],
                     model_id=row.model_id, holder_id=row.holder_id, schema_id=row.schema_id)


def _hold(row: Row) -> Hold:
    return Hold(registry=row.registry, name=row.name, version=row.version or None,
                reason=row.reason, created_by=row.created_by, created_at=row.created_at)


class TrashRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---- moving into the trash ---------------------------------------------------------------

    def _insert_item(self, **values: Any) -> int:
        item_id: int = self.conn.execute(insert(ti).values(**values).returning(ti.c.id)
                                         ).scalar_one()
        return item_id

    def trash_model(self, registry: str, model_id: int, name: str, owner: str,
                    schema_id: str | None, deleted_by: str, now: int, expires_at: int) -> int:
        """Hide the model (its row and everything on it stays); the item's id."""
        item_id = self._insert_item(registry=registry, name=name, version=None,
                                    model_id=model_id, holder_id=None, schema_id=schema_id,
                                    owner=owner, aliases="[]", deleted_by=deleted_by,
                                    deleted_at=now, expires_at=expires_at)
        self.conn.execute(update(rm).where(rm.c.id == model_id).values(
            registry=trash_registry(item_id), schema_id=None))
        return item_id

    def trash_version(self, registry: str, model_id: int, name: str, version_id: int,
                      version: int, owner: str, deleted_by: str, now: int,
                      expires_at: int) -> int:
        """Move the version to a holder row of its own and drop its aliases (remembered on the
        item); the model's summary and update time are refreshed. The item's id."""
        model_summary.lock(self.conn, model_id)
        aliases = [(a, v) for a, v in self.conn.execute(
            select(rma.c.alias, rma.c.version).where(rma.c.model_id == model_id,
                                                     rma.c.version == version)
            .order_by(rma.c.alias))]
        item_id = self._insert_item(registry=registry, name=name, version=version,
                                    model_id=model_id, schema_id=None, owner=owner,
                                    aliases=orjson.dumps(aliases).decode(),
                                    deleted_by=deleted_by, deleted_at=now,
                                    expires_at=expires_at)
        holder_id: int = self.conn.execute(insert(rm).values(
            registry=trash_registry(item_id), name=name, description="", user_id=deleted_by,
            created_at=now, updated_at=now, last_version=version).returning(rm.c.id)
        ).scalar_one()
        self.conn.execute(update(ti).where(ti.c.id == item_id).values(holder_id=holder_id))
        self.conn.execute(delete(rma).where(rma.c.model_id == model_id, rma.c.version == version))
        self.conn.execute(update(mv).where(mv.c.id == version_id).values(model_id=holder_id))
        model_summary.refresh(self.conn, model_id, touched_at=now)
        model_summary.refresh(self.conn, holder_id)  # kept true, like every model row's
        return item_id

    # ---- reading -----------------------------------------------------------------------------

    def items(self, registry: str | None = None, name: str | None = None,
              version: int | None = None, any_version: bool = True,
              limit: int = 10_000) -> list[TrashItem]:
        """Items, newest first; `any_version=False` with `version` None: models only."""
        query = select(ti)
        if registry is not None:
            query = query.where(ti.c.registry == registry)
        if name is not None:
            query = query.where(ti.c.name == name)
        if version is not None:
            query = query.where(ti.c.version == version)
        elif not any_version:
            query = query.where(ti.c.version.is_(None))
        return [_item(row) for row in self.conn.execute(
            query.order_by(ti.c.id.desc()).limit(limit))]

    def expired(self, now: int, limit: int) -> list[TrashItem]:
        return [_item(row) for row in self.conn.execute(
            select(ti).where(ti.c.expires_at <= now).order_by(ti.c.expires_at).limit(limit))]

    def item(self, item_id: int) -> TrashItem | None:
        row = self.conn.execute(select(ti).where(ti.c.id == item_id)).first()
        return None if row is None else _item(row)

    def version_items_of(self, model_id: int) -> list[TrashItem]:
        """The trashed versions of a model (whether the model is live or trashed)."""
        return [_item(row) for row in self.conn.execute(
            select(ti).where(ti.c.model_id == model_id, ti.c.version.is_not(None)))]

    def live_model(self, registry: str, name: str) -> Row | None:
        return self.conn.execute(select(rm.c.id, rm.c.name).where(
            rm.c.registry == registry, rm.c.name == name)).first()

    def model_registry(self, model_id: int) -> Row | None:
        """(registry, name) of a model row, live or trashed; None once purged."""
        return self.conn.execute(select(rm.c.registry, rm.c.name).where(
            rm.c.id == model_id)).first()

    def schema_full_name(self, schema_id: str) -> str | None:
        row = self.conn.execute(
            select(uc_catalogs.c.name, uc_schemas.c.name)
            .join(uc_catalogs, uc_catalogs.c.id == uc_schemas.c.catalog_id)
            .where(uc_schemas.c.id == schema_id)).first()
        return None if row is None else f"{row[0]}.{row[1]}"

    def version_taken(self, model_id: int, version: int) -> bool:
        return self.conn.execute(select(mv.c.id).where(
            mv.c.model_id == model_id, mv.c.version == version)).first() is not None

    def storage_locations(self, model_ids: Sequence[int]) -> list[str]:
        """Every storage location the rows own: their versions', then their own."""
        if not model_ids:
            return []
        versions = self.conn.execute(select(mv.c.storage_location).where(
            mv.c.model_id.in_(model_ids))).scalars()
        models = self.conn.execute(select(rm.c.storage_location).where(
            rm.c.id.in_(model_ids))).scalars()
        return [location for location in [*versions, *models] if location]

    # ---- restoring ---------------------------------------------------------------------------

    def restore_model(self, item: TrashItem, name: str, now: int) -> None:
        """Bring the model's row back under `name` (its schema's current name for UC)."""
        self.conn.execute(update(rm).where(rm.c.id == item.model_id).values(
            registry=item.registry, schema_id=item.schema_id, name=name, updated_at=now))
        if name != item.name:
            rename_tag_owner(self.conn, item.model_id, name)
        self.conn.execute(delete(ti).where(ti.c.id == item.id))

    def restore_version(self, item: TrashItem, now: int) -> list[str]:
        """Move the version back to its model; its aliases come back where they are free.
        The aliases restored."""
        assert item.version is not None and item.holder_id is not None
        model_summary.lock(self.conn, item.model_id)
        self.conn.execute(update(mv).where(mv.c.model_id == item.holder_id)
                          .values(model_id=item.model_id))
        self.conn.execute(delete(rm).where(rm.c.id == item.holder_id))
        taken = set(self.conn.execute(select(rma.c.alias).where(
            rma.c.model_id == item.model_id)).scalars())
        restored = [alias for alias, _ in item.aliases if alias not in taken]
        if restored:
            self.conn.execute(insert(rma), [{"model_id": item.model_id, "alias": alias,
                                             "version": item.version} for alias in restored])
        model_summary.refresh(self.conn, item.model_id, touched_at=now)
        self.conn.execute(delete(ti).where(ti.c.id == item.id))
        return restored

    # ---- purging -----------------------------------------------------------------------------

    def purge(self, items: Sequence[TrashItem]) -> None:
        """Delete the items' rows: a model's row (with everything on it), a version's holder."""
        rows = [item.holder_id if item.version is not None else item.model_id
                for item in items]
        rows = [row for row in rows if row is not None]
        models = [item.model_id for item in items if item.version is None]
        if models:
            self.conn.execute(delete(workspace_permissions).where(
                workspace_permissions.c.model_id.in_(models)))
        if rows:
            self.conn.execute(delete(rm).where(rm.c.id.in_(rows)))
        self.conn.execute(delete(ti).where(ti.c.id.in_([item.id for item in items])))

    # ---- legal holds -------------------------------------------------------------------------

    def holds(self, registry: str | None = None, names: Sequence[str] | None = None
              ) -> list[Hold]:
        query = select(lh)
        if registry is not None:
            query = query.where(lh.c.registry == registry)
        if names is not None:
            if not names:
                return []
            query = query.where(lh.c.name.in_(list(names)))
        return [_hold(row) for row in self.conn.execute(
            query.order_by(lh.c.registry, lh.c.name, lh.c.version))]

    def hold(self, registry: str, name: str, version: int | None) -> Hold | None:
        row = self.conn.execute(select(lh).where(
            lh.c.registry == registry, lh.c.name == name, lh.c.version == (version or 0))
        ).first()
        return None if row is None else _hold(row)

    def insert_hold(self, hold: Hold) -> None:
        self.conn.execute(insert(lh).values(
            registry=hold.registry, name=hold.name, version=hold.version or 0,
            reason=hold.reason, created_by=hold.created_by, created_at=hold.created_at))

    def delete_hold(self, registry: str, name: str, version: int | None) -> None:
        self.conn.execute(delete(lh).where(lh.c.registry == registry, lh.c.name == name,
                                           lh.c.version == (version or 0)))

    def rename_holds(self, registry: str, old: str, new: str) -> None:
        """Holds follow a renamed model, and the models below a renamed catalog or schema
        (`old` and `new` its name: the holds on `old.…` move to `new.…`)."""
        self.conn.execute(update(lh).where(lh.c.registry == registry, lh.c.name == old)
                          .values(name=new))
        below = self.conn.execute(select(lh.c.name).where(
            lh.c.registry == registry, lh.c.name.startswith(old + ".", autoescape=True)))
        for name in set(below.scalars()):
            self.conn.execute(update(lh).where(lh.c.registry == registry, lh.c.name == name)
                              .values(name=new + name[len(old):]))

    def model_names(self, model_ids: Sequence[int]) -> list[str]:
        if not model_ids:
            return []
        return list(self.conn.execute(select(rm.c.name).where(
            rm.c.id.in_(list(model_ids)))).scalars())

    def version_exists(self, registry: str, name: str, version: int | None) -> bool:
        """Whether the model (or version) exists live or in the trash."""
        live = select(rm.c.id).where(rm.c.registry == registry, rm.c.name == name)
        if version is None:
            if self.conn.execute(live).first() is not None:
                return True
            return self.conn.execute(select(ti.c.id).where(
                ti.c.registry == registry, ti.c.name == name)).first() is not None
        trashed_models = select(ti.c.model_id).where(
            ti.c.registry == registry, ti.c.name == name, ti.c.version.is_(None))
        found = self.conn.execute(select(mv.c.id).where(
            or_(mv.c.model_id.in_(live), mv.c.model_id.in_(trashed_models)),
            mv.c.version == version)).first()
        if found is not None:
            return True
        return self.conn.execute(select(ti.c.id).where(
            ti.c.registry == registry, ti.c.name == name, ti.c.version == version)
        ).first() is not None
