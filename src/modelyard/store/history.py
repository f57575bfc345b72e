"""The model history table (`model_history`): appended in the change's transaction, read by
subject (newest first), as of a time, and in id order for the live event stream."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, func, insert, select, update

from modelyard.domain.history import Change, Entry
from modelyard.store.compiled import execute_later, insert_rows
from modelyard.store.tables import model_history

h = model_history


def _last_value(with_version: bool) -> Any:
    """The latest value of one subject (of one version, or of the model itself)."""
    where = and_(h.c.registry == bindparam("b_registry"),
                 h.c.model_name == bindparam("b_name"), h.c.kind == bindparam("b_kind"),
                 h.c.subject == bindparam("b_subject"),
                 h.c.version == bindparam("b_version") if with_version
                 else h.c.version.is_(None))
    # LIMIT as a parameter (SQLite's dialect then binds OFFSET too): compiled once.
    return (select(h.c.value).where(where).order_by(h.c.id.desc())
            .limit(bindparam("b_limit")).offset(bindparam("b_offset")))


#: What `append_after_last` stores, besides `previous`.
_STORED = ("registry", "model_name", "kind", "subject", "version", "action", "value", "actor",
           "time", "reason")


def _insert_after_last(with_version: bool) -> Any:
    """One entry whose `previous` is the subject's latest value, read by the INSERT itself."""
    previous = _last_value(with_version).scalar_subquery()
    values = [bindparam(f"v_{name}", type_=h.c[name].type) for name in _STORED]
    return insert(h).from_select([*_STORED, "previous"], select(*values, previous))


def _entry(row: Row[Any]) -> Entry:
    return Entry(row.id, row.registry, row.model_name, row.kind, row.subject, row.version,
                 row.action, row.value, row.previous, row.actor, row.time, row.reason)


class HistoryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _subject(self, registry: str, model_name: str, kind: str, subject: str,
                 version: int | None) -> Any:
        where = and_(h.c.registry == registry, h.c.model_name == model_name, h.c.kind == kind,
                     h.c.subject == subject)
        if version is not None:
            where = and_(where, h.c.version == version)
        return where

    def append(self, rows: list[dict[str, Any]]) -> None:
        insert_rows(self.conn, h, rows)

    def append_after_last(self, row: dict[str, Any], change: Change) -> None:
        """Append `row` (the `_STORED` columns) with, as its `previous`, the value the latest
        entry of `change`'s subject gave it, read by the INSERT itself
        (no round trip of its own; on PostgreSQL it goes with the COMMIT)."""
        with_version = change.version is not None
        params = self._subject_params(change)
        params.update({f"v_{name}": row[name] for name in _STORED})
        execute_later(self.conn, ("history_after_last", with_version),
                      lambda: _insert_after_last(with_version), params)

    @staticmethod
    def _subject_params(change: Change) -> dict[str, Any]:
        params: dict[str, Any] = {"b_registry": change.registry, "b_name": change.model_name,
                                  "b_kind": change.kind, "b_subject": change.subject,
                                  "b_limit": 1, "b_offset": 0}
        if change.version is not None:
            params["b_version"] = change.version
        return params

    def rename(self, registry: str, old: str, new: str) -> None:
        self.conn.execute(update(h).where(and_(h.c.registry == registry,
                                               h.c.model_name == old))
                          .values(model_name=new))

    def move(self, registry: str, name: str, new_registry: str, new_name: str) -> None:
        """One model's history to another registry (the trash's `trash:<id>`) and name."""
        self.conn.execute(update(h).where(and_(h.c.registry == registry,
                                               h.c.model_name == name))
                          .values(registry=new_registry, model_name=new_name))

    def move_all(self, registry: str, new_registry: str, new_name: str) -> None:
        """Everything under `registry` (a trash item's: one model's history) back."""
        self.conn.execute(update(h).where(h.c.registry == registry)
                          .values(registry=new_registry, model_name=new_name))

    def forget_all(self, registry: str) -> None:
        self.conn.execute(delete(h).where(h.c.registry == registry))

    def forget(self, registry: str, model_name: str) -> None:
        """A deleted model's history goes with it (a new model of that name starts afresh)."""
        self.conn.execute(delete(h).where(and_(h.c.registry == registry,
                                               h.c.model_name == model_name)))

    def entries(self, registry: str, model_name: str, kind: str | None = None,
                subject: str | None = None, version: int | None = None, offset: int = 0,
                limit: int = 100) -> list[Entry]:
        """Newest first."""
        where = and_(h.c.registry == registry, h.c.model_name == model_name)
        if kind is not None:
            where = and_(where, h.c.kind == kind)
        if subject is not None:
            where = and_(where, h.c.subject == subject)
        if version is not None:
            where = and_(where, h.c.version == version)
        rows = self.conn.execute(select(h).where(where).order_by(h.c.id.desc())
                                 .offset(offset).limit(limit))
        return [_entry(r) for r in rows]

    def as_of(self, registry: str, model_name: str, kind: str, subject: str,
              time_ms: int) -> Entry | None:
        """The latest entry of the subject made at or before `time_ms`."""
        where = and_(self._subject(registry, model_name, kind, subject, None),
                     h.c.time <= time_ms)
        row = self.conn.execute(select(h).where(where).order_by(h.c.id.desc()).limit(1)).first()
        return None if row is None else _entry(row)

    def since(self, after_id: int, limit: int) -> list[Entry]:
        """Entries after `after_id`, oldest first (the stream)."""
        rows = self.conn.execute(select(h).where(h.c.id > after_id).order_by(h.c.id)
                                 .limit(limit))
        return [_entry(r) for r in rows]

    def last_id(self) -> int:
        return int(self.conn.execute(select(func.coalesce(func.max(h.c.id), 0))).scalar() or 0)
