"""Secrets encrypted at rest: webhook secrets and Authorization values, and the server's own
secrets (the key that signs file URLs), sealed with the key outside the database
(store/secret_box.py). `server_secrets.value` becomes Text: a sealed value is longer than the
128 characters the plain one needed.

The key comes from the process that runs the upgrade (`store.migrate.upgrade(database, box)`,
handed over as `config.attributes["secret_box"]`, as `modelyard serve` does). An upgrade
without one (a restore bringing an older backup up to date) leaves the values as they are: the
server seals what is still plain at every start (store/secrets.py `seal_plaintext`).

Revision ID: 0008_h2_storage_sealed_secrets
Revises: 0002_signed_urls, 0006_webhook_outbox
Create Date: 2026-12-05
"""

from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0008_h2_storage_sealed_secrets"
down_revision = ("0002_signed_urls", "0006_webhook_outbox")
branch_labels = None
depends_on = None

_PREFIX = "enc1:"
_webhooks = sa.table("registry_webhooks", sa.column("id", sa.String),
                     sa.column("secret", sa.Text), sa.column("authorization", sa.Text))
_secrets = sa.table("server_secrets", sa.column("name", sa.String),
                    sa.column("value", sa.Text))


def _convert(transform: str) -> None:
    box: Any = context.config.attributes.get("secret_box")
    if box is None:
        if transform == "open":
            raise RuntimeError("Downgrading below 0008 needs the secret key to decrypt the "
                               "stored secrets (store.migrate's secret_box).")
        return
    conn = op.get_bind()

    def convert(value: str | None) -> str | None:
        if value is None or value.startswith(_PREFIX) == (transform == "seal"):
            return value
        return box.seal(value) if transform == "seal" else box.open(value)

    for row in conn.execute(sa.select(_webhooks)).all():
        secret, authorization = convert(row.secret), convert(row.authorization)
        if (secret, authorization) != (row.secret, row.authorization):
            conn.execute(sa.update(_webhooks).where(_webhooks.c.id == row.id).values(
                secret=secret, authorization=authorization))
    for row in conn.execute(sa.select(_secrets)).all():
        value = convert(row.value)
        if value != row.value:
            conn.execute(sa.update(_secrets).where(_secrets.c.name == row.name)
                         .values(value=value))


def upgrade() -> None:
    with op.batch_alter_table("server_secrets") as batch:
        batch.alter_column("value", type_=sa.Text, existing_type=sa.String(128),
                           existing_nullable=False)
    _convert("seal")


def downgrade() -> None:
    _convert("open")
    with op.batch_alter_table("server_secrets") as batch:
        batch.alter_column("value", type_=sa.String(128), existing_type=sa.Text,
                           existing_nullable=False)
