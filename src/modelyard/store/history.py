"""The model history table (`model_history`): appended in the change's transaction, read by
subject (newest first), as of a time, and in id order for the live event stream."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, insert, select, update

from modelyard.domain.history import Change, Entry
from modelyard.store.tables import model_history

h = model_history


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

    def last_value(self, change: Change) -> str | None:
        """The value the subject of `change` was given by its latest entry (None: none)."""
        where = self._subject(change.registry, change.model_name, change.kind, change.subject,
                              change.version)
        if change.version is None:
            where = and_(where, h.c.version.is_(None))
        return self.conn.execute(
            select(h.c.value).where(where).order_by(h.c.id.desc()).limit(1)).scalar()

    def append(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(h), rows)

    def rename(self, registry: str, old: str, new: str) -> None:
        self.conn.execute(update(h).where(and_(h.c.registry == registry,
                                               h.c.model_name == old))
                          .values(model_name=new))

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
