"""The model scan's result on each version (issue 20, item 3).

Revision ID: 0009_h12_model_scan
Revises: 0007_model_summary
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_h12_model_scan"
down_revision = "0007_model_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: adding them rewrites no row (SQLite and PostgreSQL alike).
    op.add_column("model_versions", sa.Column("scan_status", sa.String(16), nullable=True))
    op.add_column("model_versions", sa.Column("scan_report", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("model_versions", "scan_report")
    op.drop_column("model_versions", "scan_status")
