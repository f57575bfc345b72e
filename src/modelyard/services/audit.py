"""The audit trail: one hash-chained row per change and per refused request.

`AuditTrail.append` is a before-commit hook of the unit-of-work factory, so each event is
written in the same transaction as the change it describes; appends are serialized by the
chain-head lock (store.audit).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from modelyard.domain.audit import AuditQuery
from modelyard.domain.changes import Event
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.paging import decode_page_token, encode_page_token
from modelyard.events import chain
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import UnitOfWorkFactory
from modelyard.store.audit import AuditRepository
from modelyard.store.database import Database

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    time: int
    actor: str
    action: str
    object_type: str
    object_name: str
    before: Any
    after: Any
    request_id: str
    client_address: str
    prev_hash: str
    hash: str


def append(conn: Connection, actor: Actor, events: list[Event]) -> None:
    """The before-commit (and on-denied) hook: chain each event onto the current head."""
    repo = AuditRepository(conn)
    now = now_ms()
    rows = [{"time": now, "actor": actor.name, "action": event.action,
             "object_type": event.object_type, "object_name": event.object_name[:1024],
             "before": chain.encode_state(event.before),
             "after": chain.encode_state(event.after),
             "request_id": actor.request_id[:64],
             "client_address": actor.client_address[:64]} for event in events]
    if repo.chains_on_insert:
        # PostgreSQL: each row is chained onto the head as it is inserted, under the chain's
        # lock, with what it hashes past its seq: no round trip to read the head first.
        repo.append_chained([(row, chain.payload_middle({"seq": 0, **row})) for row in rows])
        return
    seq, prev = repo.lock_head()
    chained = []
    for row in rows:
        seq += 1
        fields = {"seq": seq, **row}
        digest = chain.row_hash(fields, prev)
        chained.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    repo.append(chained)


def verify(database: Database, expect_head: tuple[int, str] | None = None
           ) -> tuple[list[str], tuple[int, str] | None]:
    """Every break in the stored chain (edited, inserted or deleted rows), naming the row, and
    the chain's head (last seq and hash; None when empty).

    A chain cut short at its end is still a valid chain: `expect_head`, a (seq, hash) noted from
    an earlier run and kept elsewhere, must still be in it, with that hash."""
    head: tuple[int, str] | None = None
    found: Any = None

    def watched(rows: Iterator[Any]) -> Iterator[Any]:  # streamed: the log can be long
        nonlocal head, found
        for row in rows:
            head = (row.seq, row.hash)
            if expect_head is not None and row.seq == expect_head[0]:
                found = row
            yield row

    with database.read() as conn:
        problems = chain.verify(watched(AuditRepository(conn).all_rows()))
    if expect_head is not None:
        seq, expected_hash = expect_head
        if found is None:
            problems.append(f"row seq {seq}, the expected head, is missing: the chain was cut "
                            f"(it now ends at seq {head[0] if head else 0})")
        elif found.hash != expected_hash:
            problems.append(f"row seq {seq} no longer has the expected head's hash: the chain "
                            "was rewritten from there")
    return problems, head


class AuditService:
    def __init__(self, units: UnitOfWorkFactory) -> None:
        self.units = units

    def search(self, actor: Actor, query: AuditQuery, page_token: str | None = None,
               max_results: int | None = None) -> tuple[list[AuditEvent], str]:
        """Metastore admins see every event; others only events on objects they own."""
        limit = max_results or 100
        if limit < 1 or limit > MAX_PAGE:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_PAGE}.")
        after_seq = decode_page_token(page_token)
        rows: list[Any] = []
        exhausted = False
        with self.units.read(actor) as uow:
            repo = uow.audit
            owned = None if actor.is_admin else uow.audit.owned_objects(
                actor.name, actor.principals)
            # Non-admins: filter batch by batch, so a page is full unless the log ends.
            while len(rows) < limit and not exhausted:
                batch = repo.search(query, after_seq, limit if owned is None else MAX_PAGE)
                exhausted = len(batch) < (limit if owned is None else MAX_PAGE)
                if batch:
                    after_seq = batch[-1].seq
                for row in batch:
                    if owned is None or _root_object(row) in owned:
                        rows.append(row)
                        if len(rows) == limit:
                            after_seq = row.seq
                            break
        events = [AuditEvent(
            seq=r.seq, time=r.time, actor=r.actor, action=r.action, object_type=r.object_type,
            object_name=r.object_name, before=_decode(r.before), after=_decode(r.after),
            request_id=r.request_id, client_address=r.client_address, prev_hash=r.prev_hash,
            hash=r.hash) for r in rows]
        token = encode_page_token(after_seq) if len(rows) == limit else ""
        return events, token


def _root_object(row: Any) -> tuple[str, str]:
    """Events on a version count as events on its model."""
    if row.object_type == "model_version":
        return ("registered_model", row.object_name.rsplit("/", 1)[0])
    return (row.object_type, row.object_name)


def _decode(text: str | None) -> Any:
    import orjson

    return None if text is None else orjson.loads(text)


