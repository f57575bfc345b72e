"""The registry core: registered models, versions, tags and aliases.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("registry", sa.String(16), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.UniqueConstraint("registry", "name", name="uq_registered_models_registry_name"),
    )
    op.create_index("ix_registered_models_updated", "registered_models",
                    ["registry", "updated_at", "name"])
    if op.get_bind().dialect.name == "postgresql":
        # Lets `name LIKE 'prefix%'` use an index whatever the database's collation.
        op.create_index("ix_registered_models_name_pattern", "registered_models",
                        ["registry", "name"], postgresql_ops={"name": "text_pattern_ops"})

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer,
                  sa.ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(256), nullable=False),
        sa.Column("run_link", sa.Text, nullable=False),
        sa.Column("logged_model_id", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_updated", "model_versions", ["updated_at"])
    op.create_index("ix_model_versions_model_stage", "model_versions",
                    ["model_id", "stage", "version"])

    op.create_table(
        "registered_model_tags",
        sa.Column("model_id", sa.Integer,
                  sa.ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_registered_model_tags_key", "registered_model_tags", ["key", "model_id"])

    op.create_table(
        "model_version_tags",
        sa.Column("version_id", sa.Integer,
                  sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_model_version_tags_key", "model_version_tags", ["key", "version_id"])

    op.create_table(
        "registered_model_aliases",
        sa.Column("model_id", sa.Integer,
                  sa.ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_registered_model_aliases_version", "registered_model_aliases",
                    ["model_id", "version"])


def downgrade() -> None:
    for table in ("registered_model_aliases", "model_version_tags", "registered_model_tags",
                  "model_versions", "registered_models"):
        op.drop_table(table)
