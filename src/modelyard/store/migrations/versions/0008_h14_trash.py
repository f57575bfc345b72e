"""Trash and legal holds (issue 20).

Revision ID: 0008_h14_trash
Revises: 0007_model_summary
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_h14_trash"
down_revision = "0007_model_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trash_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("registry", sa.String(16), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("holder_id", sa.Integer, nullable=True),
        sa.Column("schema_id", sa.String(36), nullable=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("deleted_by", sa.String(256), nullable=False),
        sa.Column("deleted_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_trash_items_name", "trash_items", ["registry", "name", "version"])
    op.create_index("ix_trash_items_expires", "trash_items", ["expires_at"])
    op.create_index("ix_trash_items_model", "trash_items", ["model_id"])
    op.create_table(
        "legal_holds",
        sa.Column("registry", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("legal_holds")
    op.drop_index("ix_trash_items_model", "trash_items")
    op.drop_index("ix_trash_items_expires", "trash_items")
    op.drop_index("ix_trash_items_name", "trash_items")
    op.drop_table("trash_items")
