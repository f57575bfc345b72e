"""Identity and access: principals, tokens, permission levels, grants, activities, audit trail.

Revision ID: 0002_identity
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_identity"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("external_id", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("principals.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("principals.id", ondelete="CASCADE"),
                  primary_key=True),
    )
    op.create_index("ix_group_members_member", "group_members", ["member_id"])
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("principal_id", sa.Integer,
                  sa.ForeignKey("principals.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_access_tokens_principal", "access_tokens", ["principal_id"])
    op.create_table(
        "workspace_permissions",
        sa.Column("model_id", sa.Integer, primary_key=True),
        sa.Column("principal", sa.String(256), primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
    )
    op.create_index("ix_workspace_permissions_principal", "workspace_permissions",
                    ["principal", "model_id"])
    op.create_table(
        "uc_grants",
        sa.Column("securable_type", sa.String(32), primary_key=True),
        sa.Column("securable_name", sa.String(1024), primary_key=True),
        sa.Column("principal", sa.String(256), primary_key=True),
        sa.Column("privilege", sa.String(64), primary_key=True),
    )
    op.create_index("ix_uc_grants_principal", "uc_grants", ["principal", "securable_type"])
    op.create_table(
        "registry_activities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer,
                  sa.ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("activity_type", sa.String(32), nullable=False),
        sa.Column("from_stage", sa.String(32), nullable=False),
        sa.Column("to_stage", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("system_comment", sa.Text, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_registry_activities_version", "registry_activities",
                    ["version_id", "id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("object_name", sa.String(1024), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_object", "audit_events",
                    ["object_type", "object_name", "seq"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor", "seq"])
    op.create_index("ix_audit_events_time", "audit_events", ["time"])


def downgrade() -> None:
    for table in ("audit_events", "registry_activities", "uc_grants", "workspace_permissions",
                  "access_tokens", "group_members", "principals"):
        op.drop_table(table)
