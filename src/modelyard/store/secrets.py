"""Server-wide secrets, created once and shared by every replica through the database, where
they are kept encrypted (store/secret_box.py)."""

from __future__ import annotations

import secrets

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.domain.clock import now_ms
from modelyard.store.database import Database
from modelyard.store.secret_box import SecretBox, is_sealed
from modelyard.store.tables import registry_webhooks, server_secrets


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


def seal_plaintext(database: Database, box: SecretBox) -> int:
    """Encrypt the secrets still stored in plain text (written before encryption and brought
    up to date without the key, by a restore); how many. Idempotent, and cheap: the two tables
    hold a few rows."""
    sealed = 0
    with database.write() as conn:
        for name, value in conn.execute(select(server_secrets.c.name, server_secrets.c.value)):
            if not is_sealed(value):
                conn.execute(update(server_secrets).where(server_secrets.c.name == name)
                             .values(value=box.seal(value)))
                sealed += 1
        hooks = registry_webhooks
        for row in conn.execute(select(hooks.c.id, hooks.c.secret, hooks.c.authorization)):
            values = {column: box.seal(value) for column, value in
                      (("secret", row.secret), ("authorization", row.authorization))
                      if value is not None and not is_sealed(value)}
            if values:
                conn.execute(update(hooks).where(hooks.c.id == row.id).values(**values))
                sealed += 1
    return sealed


def check_key(database: Database, box: SecretBox) -> None:
    """Raise SecretKeyError when the stored secrets were sealed with another key (a replica
    started with a key of its own): better refused at start than failing on every use."""
    with database.read() as conn:
        for value in conn.execute(select(server_secrets.c.value)).scalars():
            box.open(value)
        hooks = registry_webhooks
        for row in conn.execute(select(hooks.c.secret, hooks.c.authorization)):
            box.open_optional(row.secret)
            box.open_optional(row.authorization)
