"""MLflow 3 webhooks beside Databricks' registry webhooks, and a delivery log.

`registry_webhooks` gains the dialect a webhook was created through ('databricks' or 'mlflow')
and MLflow's webhook name. Outbox rows are kept once finished (state delivered or failed) for
the retention period, with their last outcome and a stable delivery id (MLflow's
X-MLflow-Delivery-Id); every attempt is a row of `webhook_delivery_attempts`.

Revision ID: 0008_h9_webhooks_delivery_log
Revises: 0006_webhook_outbox, 0007_model_summary
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_h9_webhooks_delivery_log"
down_revision = ("0006_webhook_outbox", "0007_model_summary")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("registry_webhooks", sa.Column("dialect", sa.String(16), nullable=False,
                                                 server_default="databricks"))
    op.add_column("registry_webhooks", sa.Column("name", sa.String(256), nullable=True))
    for column in (sa.Column("delivery_uuid", sa.String(36), nullable=True),
                   sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
                   sa.Column("finished_at", sa.BigInteger, nullable=True),
                   sa.Column("status_code", sa.Integer, nullable=True),
                   sa.Column("error", sa.Text, nullable=True),
                   sa.Column("latency_ms", sa.Integer, nullable=True),
                   sa.Column("response", sa.Text, nullable=True),
                   sa.Column("redelivery_of", sa.Integer, nullable=True)):
        op.add_column("webhook_deliveries", column)
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "id"])
    op.create_index("ix_webhook_deliveries_pending", "webhook_deliveries",
                    ["state", "next_attempt_at"])
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer,
                  sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE",
                                name="fk_webhook_delivery_attempts_delivery"),
                  nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
    )
    op.create_index("ix_webhook_delivery_attempts_delivery", "webhook_delivery_attempts",
                    ["delivery_id", "attempt"])


def downgrade() -> None:
    op.drop_index("ix_webhook_delivery_attempts_delivery", "webhook_delivery_attempts")
    op.drop_table("webhook_delivery_attempts")
    op.drop_index("ix_webhook_deliveries_pending", "webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook", "webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        for name in ("redelivery_of", "response", "latency_ms", "error", "status_code",
                     "finished_at", "state", "delivery_uuid"):
            batch.drop_column(name)
    with op.batch_alter_table("registry_webhooks") as batch:
        batch.drop_column("name")
        batch.drop_column("dialect")
