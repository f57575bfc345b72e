"""The audit trail's rows: append under the chain-head lock, query, and read back in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, func, select, text

from modelyard.domain.access import Level
from modelyard.domain.audit import GENESIS, AuditQuery
from modelyard.store.compiled import execute_later, fetch_all, insert_rows
from modelyard.store.tables import (
    audit_events,
    registered_models,
    uc_catalogs,
    uc_schemas,
    workspace_permissions,
)

ae = audit_events
# Any fixed number: every Modelyard process agrees on it (the migration lock uses another).
_PG_AUDIT_LOCK = 0x61756469
_PG_LOCK_SQL = f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK})"

COLUMNS = (ae.c.seq, ae.c.time, ae.c.actor, ae.c.action, ae.c.object_type, ae.c.object_name,
           ae.c.before, ae.c.after, ae.c.request_id, ae.c.client_address, ae.c.prev_hash,
           ae.c.hash)


# Built once: every write runs it, and building it cost more CPU than running it.
# The last row, without LIMIT (whose value SQLite binds as a parameter): compiled once.
_HEAD = select(ae.c.seq, ae.c.hash).where(ae.c.seq == select(func.max(ae.c.seq)).scalar_subquery())


# PostgreSQL: one row chained onto the head as it is inserted (`append_chained`). The hash is
# SHA-256 over `[<seq>,<middle>,"<prev_hash>"]`, as events/chain.row_hash computes it, with
# <middle> the row's other fields as the caller serialized them (chain.payload_middle).
_HEAD_SEQ = "COALESCE(head.seq, 0) + 1"
_HEAD_HASH = f"COALESCE(head.hash, '{GENESIS}')"
_INSERT_CHAINED = (
    "INSERT INTO audit_events (seq, time, actor, action, object_type, object_name, before, "
    "after, request_id, client_address, prev_hash, hash) "
    f"SELECT {_HEAD_SEQ}, CAST(:time AS BIGINT), CAST(:actor AS TEXT), CAST(:action AS TEXT), "
    "CAST(:object_type AS TEXT), CAST(:object_name AS TEXT), CAST(:before AS TEXT), "
    "CAST(:after AS TEXT), CAST(:request_id AS TEXT), CAST(:client_address AS TEXT), "
    f"{_HEAD_HASH}, encode(sha256(convert_to('[' || ({_HEAD_SEQ})::text || ',' || "
    f"CAST(:middle AS TEXT) || ',\"' || {_HEAD_HASH} || '\"]', 'UTF8')), 'hex') "
    "FROM (SELECT 1) AS one LEFT JOIN audit_events AS head "
    "ON head.seq = (SELECT max(seq) FROM audit_events)")


class AuditRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        #: Whether rows are chained by the database as they are inserted (`append_chained`).
        self.chains_on_insert = conn.dialect.name == "postgresql"

    def lock_head(self) -> tuple[int, str]:
        """The last (seq, hash), for a database that does not chain rows itself
        (`chains_on_insert` False: SQLite, whose write transaction already holds the database's
        write lock, which serializes appends). PostgreSQL appends with `append_chained`."""
        rows = fetch_all(self.conn, "audit_head", lambda: _HEAD, {})
        return (rows[0][0], rows[0][1]) if rows else (0, GENESIS)

    def append(self, rows: list[dict[str, Any]]) -> None:
        insert_rows(self.conn, ae, rows)

    def append_chained(self, rows: list[tuple[dict[str, Any], str]]) -> None:
        """PostgreSQL: insert each row (its fields but seq and the hashes, and the middle of its
        hashed payload) as the chain's next, under the chain's lock. The statements go with
        the COMMIT only (store/libpq_statements.py): the lock is held from there to the end of
        the transaction, and no other lock is taken after it (in a group commit neither)."""
        execute_later(self.conn, "audit_lock", lambda: text(_PG_LOCK_SQL), {}, at_commit=True)
        for fields, middle in rows:
            execute_later(self.conn, "audit_insert_chained", lambda: text(_INSERT_CHAINED),
                          {**fields, "middle": middle}, at_commit=True)

    def search(self, query: AuditQuery, after_seq: int, limit: int) -> list[Any]:
        stmt = select(*COLUMNS).where(ae.c.seq > after_seq)
        if query.object_type:
            stmt = stmt.where(ae.c.object_type == query.object_type)
        if query.object_name:
            stmt = stmt.where(ae.c.object_name == query.object_name)
        if query.actor:
            stmt = stmt.where(ae.c.actor == query.actor)
        if query.action:
            stmt = stmt.where(ae.c.action == query.action)
        if query.request_id:
            stmt = stmt.where(ae.c.request_id == query.request_id)
        if query.since_ms is not None:
            stmt = stmt.where(ae.c.time >= query.since_ms)
        if query.until_ms is not None:
            stmt = stmt.where(ae.c.time < query.until_ms)
        return list(self.conn.execute(stmt.order_by(ae.c.seq).limit(limit)).all())

    def all_rows(self, batch: int = 5000) -> Iterator[Any]:
        last = -1
        while True:
            rows = self.conn.execute(select(*COLUMNS).where(ae.c.seq > last)
                                     .order_by(ae.c.seq).limit(batch)).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def owned_objects(self, name: str, principals: frozenset[str]) -> frozenset[tuple[str, str]]:
        """The (object type, name) pairs whose events the principal `name` (with `principals`,
        its groups and itself) may read: workspace models it created or manages, Unity Catalog
        catalogs, schemas and models that it or one of its groups owns."""
        rm, wp = registered_models, workspace_permissions
        who = list(principals)
        managed = select(wp.c.model_id).where(wp.c.principal.in_(who),
                                              wp.c.level >= int(Level.CAN_MANAGE))
        owned = {("registered_model", row.name) for row in self.conn.execute(
            select(rm.c.name).where(rm.c.registry == "workspace",
                                    (rm.c.user_id == name) | rm.c.id.in_(managed)))}
        owned |= {("registered_model", row.name) for row in self.conn.execute(
            select(rm.c.name).where(rm.c.registry == "uc", rm.c.owner.in_(who)))}
        by_id = {row.id: row.name for row in self.conn.execute(
            select(uc_catalogs.c.id, uc_catalogs.c.name))}
        owned |= {("catalog", row.name) for row in self.conn.execute(
            select(uc_catalogs.c.name).where(uc_catalogs.c.owner.in_(who)))}
        owned |= {("schema", f"{by_id.get(row.catalog_id, '')}.{row.name}")
                  for row in self.conn.execute(select(uc_schemas.c.catalog_id, uc_schemas.c.name)
                                               .where(uc_schemas.c.owner.in_(who)))}
        return frozenset(owned)
