"""The audit trail's hash chain: how a row's hash is computed, and how a chain is checked.

Each row's hash is SHA-256 over its own content and the previous row's hash, so editing,
inserting or deleting any row breaks the chain at that row. (Cutting rows off the end leaves a
valid shorter chain; compare the head against a copy kept elsewhere to detect that.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

from modelyard.domain.audit import GENESIS

FIELDS = ("seq", "time", "actor", "action", "object_type", "object_name", "before", "after",
          "request_id", "client_address")


def encode_state(value: dict[str, Any] | None) -> str | None:
    """Before/after images as stored: canonical JSON (sorted keys), so hashes are stable."""
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def row_hash(fields: dict[str, Any], prev_hash: str) -> str:
    payload = orjson.dumps([fields[name] for name in FIELDS] + [prev_hash])
    return hashlib.sha256(payload).hexdigest()


def payload_middle(fields: dict[str, Any]) -> str:
    """The row's hashed payload between its seq and its prev_hash: `row_hash` hashes
    `[<seq>,<this>,"<prev_hash>"]` (JSON as orjson writes it, no spaces; a hash is hex, so its
    JSON string is itself in quotes). For a database that chains rows itself, knowing the head
    only when it inserts (store/audit.py, PostgreSQL)."""
    return orjson.dumps([fields[name] for name in FIELDS[1:]]).decode()[1:-1]


def verify(rows: Iterable[Any]) -> list[str]:
    """Every break in the chain, as a sentence naming the row; empty when the chain is intact.

    `rows` are in seq order and have the FIELDS plus prev_hash and hash as attributes.
    """
    problems: list[str] = []
    expected_seq, expected_prev = 1, GENESIS
    for row in rows:
        fields = {name: getattr(row, name) for name in FIELDS}
        if row.seq != expected_seq:
            if row.seq > expected_seq:
                missing = (f"seq {expected_seq}" if row.seq == expected_seq + 1
                           else f"seq {expected_seq}..{row.seq - 1}")
                problems.append(f"row {missing} deleted (the chain jumps to seq {row.seq})")
            else:
                problems.append(f"row seq {row.seq} out of order or inserted")
        if row.prev_hash != expected_prev:
            problems.append(f"row seq {row.seq}: prev_hash does not match the previous row's "
                            f"hash (a row before it was inserted, deleted or edited)")
        if row_hash(fields, row.prev_hash) != row.hash:
            problems.append(f"row seq {row.seq}: content edited (hash mismatch; action "
                            f"{row.action!r} on {row.object_type} {row.object_name!r})")
        expected_seq, expected_prev = row.seq + 1, row.hash
    return problems
