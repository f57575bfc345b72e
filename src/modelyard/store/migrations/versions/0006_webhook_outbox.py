"""The webhook outbox: deliveries are written with the change that causes them.

A delivery row commits in the change's own transaction and stays until the receiver accepted it
or its attempts ran out, so events survive a restart or a crash of the process that made them,
and any replica may deliver them.

Revision ID: 0006_webhook_outbox
Revises: 0004_webhooks
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_webhook_outbox"
down_revision = "0004_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", sa.String(32),
                  sa.ForeignKey("registry_webhooks.id", ondelete="CASCADE",
                                name="fk_webhook_deliveries_webhook"),
                  nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("claimed_until", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", "webhook_deliveries")
    op.drop_table("webhook_deliveries")
