"""Registry webhooks (Databricks workspace Model Registry webhooks), a head of its own.

Revision ID: 0004_webhooks
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_webhooks"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_webhooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model_name", sa.String(512), nullable=True),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("url", sa.Text, nullable=False),
        # Stored as given, not hashed: deliveries need them to sign and to authenticate.
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("authorization", sa.Text, nullable=True),
        sa.Column("enable_ssl_verification", sa.Boolean, nullable=False,
                  server_default=sa.true()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("last_delivery_at", sa.BigInteger, nullable=True),
        sa.Column("last_delivery_status", sa.Integer, nullable=True),
        sa.Column("last_delivery_error", sa.Text, nullable=True),
    )
    op.create_index("ix_registry_webhooks_model", "registry_webhooks", ["model_name"])


def downgrade() -> None:
    op.drop_index("ix_registry_webhooks_model", "registry_webhooks")
    op.drop_table("registry_webhooks")
