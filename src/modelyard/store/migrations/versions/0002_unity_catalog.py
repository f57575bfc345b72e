"""Unity Catalog: catalogs, schemas, governed storage and lineage on UC models and versions.

UC registered models and versions live in the registry core's tables (registry = 'uc', name =
the lower-case three-level name); this revision adds what UC needs on top, the catalog and
schema tables, per-file digests, and the storage garbage queue. It also creates catalog `main`
with schema `default`, which exist on first start.

Revision ID: 0002_unity_catalog
Revises: 0001
Create Date: 2026-11-26
"""

import time
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002_unity_catalog"
down_revision = "0001"
branch_labels = None
depends_on = None


def _audit_columns() -> list[sa.Column]:
    return [
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "uc_catalogs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("storage_root", sa.Text, nullable=True),
        sa.Column("storage_location", sa.Text, nullable=True),
        *_audit_columns(),
        sa.UniqueConstraint("name", name="uq_uc_catalogs_name"),
    )
    op.create_table(
        "uc_schemas",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("catalog_id", sa.String(36),
                  sa.ForeignKey("uc_catalogs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("storage_root", sa.Text, nullable=True),
        sa.Column("storage_location", sa.Text, nullable=True),
        *_audit_columns(),
        sa.UniqueConstraint("catalog_id", "name", name="uq_uc_schemas_catalog_name"),
    )
    op.create_table(
        "uc_securable_tags",
        sa.Column("securable_type", sa.String(16), primary_key=True),
        sa.Column("securable_id", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    # Plain ADD COLUMN, never a batch (table-copying) migration: on SQLite, copying
    # registered_models would DROP the old table, and with foreign keys on that cascades into
    # every version, tag and alias of the workspace registry.
    for column in (sa.Column("uc_id", sa.String(36), nullable=True),
                   sa.Column("storage_location", sa.Text, nullable=True),
                   sa.Column("owner", sa.String(256), nullable=True),
                   sa.Column("updated_by", sa.String(256), nullable=True)):
        op.add_column("registered_models", column)
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with an inline REFERENCES clause, but no constraint afterwards.
        op.execute("ALTER TABLE registered_models ADD COLUMN schema_id VARCHAR(36) "
                   "CONSTRAINT fk_registered_models_schema REFERENCES uc_schemas (id) "
                   "ON DELETE CASCADE")
    else:
        op.add_column("registered_models", sa.Column("schema_id", sa.String(36), nullable=True))
        op.create_foreign_key("fk_registered_models_schema", "registered_models", "uc_schemas",
                              ["schema_id"], ["id"], ondelete="CASCADE")
    op.create_index("ix_registered_models_schema", "registered_models", ["schema_id", "name"])
    for column in (sa.Column("uc_id", sa.String(36), nullable=True),
                   sa.Column("storage_location", sa.Text, nullable=True),
                   sa.Column("root_digest", sa.String(64), nullable=True),
                   sa.Column("run_tracking_server_id", sa.String(256), nullable=True),
                   sa.Column("lineage", sa.Text, nullable=True),
                   sa.Column("updated_by", sa.String(256), nullable=True)):
        op.add_column("model_versions", column)
    op.create_index("ix_model_versions_status_created", "model_versions",
                    ["status", "created_at"])
    op.create_table(
        "model_version_files",
        sa.Column("version_id", sa.Integer,
                  sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    op.create_table(
        "storage_garbage",
        sa.Column("location", sa.String(2048), primary_key=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("queued_at", sa.BigInteger, nullable=False),
    )

    now = time.time_ns() // 1_000_000
    catalog_id, schema_id = str(uuid.uuid4()), str(uuid.uuid4())
    audit = {"owner": "admin", "created_at": now, "created_by": "admin", "updated_at": now,
             "updated_by": "admin"}
    op.bulk_insert(sa.table("uc_catalogs", *(sa.column(c) for c in (
        "id", "name", "comment", "properties", "owner", "created_at", "created_by",
        "updated_at", "updated_by"))),
        [{"id": catalog_id, "name": "main", "properties": "{}",
          "comment": "Main catalog (created automatically)", **audit}])
    op.bulk_insert(sa.table("uc_schemas", *(sa.column(c) for c in (
        "id", "catalog_id", "name", "comment", "properties", "owner", "created_at", "created_by",
        "updated_at", "updated_by"))),
        [{"id": schema_id, "catalog_id": catalog_id, "name": "default", "properties": "{}",
          "comment": "Default schema (created automatically)", **audit}])


def downgrade() -> None:
    op.drop_table("storage_garbage")
    op.drop_table("model_version_files")
    op.drop_index("ix_model_versions_status_created", "model_versions")
    for column in ("updated_by", "lineage", "run_tracking_server_id", "root_digest",
                   "storage_location", "uc_id"):
        op.drop_column("model_versions", column)
    op.drop_index("ix_registered_models_schema", "registered_models")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_registered_models_schema", "registered_models",
                           type_="foreignkey")
    for column in ("schema_id", "updated_by", "owner", "storage_location", "uc_id"):
        op.drop_column("registered_models", column)
    op.drop_table("uc_securable_tags")
    op.drop_table("uc_schemas")
    op.drop_table("uc_catalogs")
