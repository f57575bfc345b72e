"""Model signing: what finalize concluded about a UC version's model.sig (issue 20, item 4).

Revision ID: 0009_h13_model_signing
Revises: 0007_model_summary
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_h13_model_signing"
down_revision = "0007_model_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_version_signing",
        sa.Column("version_id", sa.Integer,
                  sa.ForeignKey("model_versions.id", ondelete="CASCADE",
                                name="fk_model_version_signing_version"), primary_key=True),
        sa.Column("signed", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("signer", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("verified_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_version_signing")
