"""Server-wide secrets, created once and shared by every replica through the database, where
they are kept encrypted (store/secret_box.py)."""

from __future__ import annotations

import secrets

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from modelyard.domain.clock import now_ms
from modelyard.store.database import Database
from modelyard.store.secret_box import SecretBox
from modelyard.store.tables import server_secrets


def get_or_create(database: Database, name: str, box: SecretBox) -> bytes:
    """The secret called `name`; the first replica to ask creates it (32 random bytes)."""
    with database.read() as conn:
        value = conn.execute(select(server_secrets.c.value)
                             .where(server_secrets.c.name == name)).scalar()
    if value is None:
        try:
            with database.write() as conn:
                value = conn.execute(select(server_secrets.c.value)
                                     .where(server_secrets.c.name == name)).scalar()
                if value is None:
                    value = box.seal(secrets.token_hex(32))
                    conn.execute(insert(server_secrets).values(
                        name=name, value=value, created_at=now_ms()))
        except IntegrityError:  # another replica won the race: use its secret
            with database.read() as conn:
                value = conn.execute(select(server_secrets.c.value)
                                     .where(server_secrets.c.name == name)).scalar_one()
    return bytes.fromhex(box.open(value))


def check_key(database: Database, box: SecretBox) -> None:
    """Raise SecretKeyError when the stored secrets were sealed with another key (a replica
    started with a key of its own): better refused at start than failing on every use."""
    with database.read() as conn:
        for value in conn.execute(select(server_secrets.c.value)).scalars():
            box.open(value)
