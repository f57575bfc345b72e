"""Model history: alias, stage, tag and description changes, and the event stream's source.

Revision ID: 0008_h10_history
Revises: 0007_model_summary
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_h10_history"
down_revision = "0007_model_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("registry", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(1024), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False, server_default=""),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("previous", sa.Text, nullable=True),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("ix_model_history_subject", "model_history",
                    ["registry", "model_name", "kind", "subject", "id"])
    op.create_index("ix_model_history_time", "model_history", ["time"])


def downgrade() -> None:
    op.drop_table("model_history")
