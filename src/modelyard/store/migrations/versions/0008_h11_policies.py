"""Promotion policies and alias requests (issue 20).

Revision ID: 0008_h11_policies
Revises: 0007_model_summary
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_h11_policies"
down_revision = "0007_model_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promotion_policies",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("scope", sa.String(1024), nullable=False),
        sa.Column("alias", sa.String(255), nullable=True),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("condition", sa.Text, nullable=False),
        sa.Column("approvals", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alias_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer,
                  sa.ForeignKey("registered_models.id", ondelete="CASCADE",
                                name="fk_alias_requests_model"), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("approvals_needed", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alias_requests_model", "alias_requests", ["model_id", "state"])
    op.create_table(
        "alias_request_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Integer,
                  sa.ForeignKey("alias_requests.id", ondelete="CASCADE",
                                name="fk_alias_request_reviews_request"), nullable=False),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alias_request_reviews_request", "alias_request_reviews",
                    ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_alias_request_reviews_request", "alias_request_reviews")
    op.drop_table("alias_request_reviews")
    op.drop_index("ix_alias_requests_model", "alias_requests")
    op.drop_table("alias_requests")
    op.drop_table("promotion_policies")
