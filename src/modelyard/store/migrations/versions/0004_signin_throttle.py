"""Failed password sign-ins per user name, for the sign-in throttle shared by all workers.

Revision ID: 0004_signin_throttle
Revises: 0002_identity
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_signin_throttle"
down_revision = "0002_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_failures",
        sa.Column("username", sa.String(256), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_failure_at", sa.BigInteger, nullable=False),
        sa.Column("locked_until", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_signin_failures_first_failure_at", "signin_failures",
                    ["first_failure_at"])


def downgrade() -> None:
    op.drop_index("ix_signin_failures_first_failure_at", "signin_failures")
    op.drop_table("signin_failures")
