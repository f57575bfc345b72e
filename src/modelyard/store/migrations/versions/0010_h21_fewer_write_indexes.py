"""B-trees fewer per write (issue 21): SQLite's audit sequence as the table's row id, no index
of the model history's times, and the pending-version index only over pending versions.

A write's COMMIT on SQLite costs about a WAL frame (two `pwrite` calls) per page it changed,
and every index an insert touches is one more page:

- `audit_events.seq` was declared BIGINT, so SQLite kept the table under a hidden row id and
  `seq` in an index of its own (every write adds an audit row). Declared INTEGER it *is* the row
  id (SQLite's "INTEGER PRIMARY KEY"): the table is rebuilt once, rows and hashes unchanged.
  PostgreSQL is not concerned (a primary key there is the table's one index).
- `ix_model_history_time` had no reader: the as-of lookup (store/history.py `as_of`) walks
  one subject's entries newest first on `ix_model_history_subject`, and nothing else asks for
  the history by time. Nearly every write adds a history row.
- `ix_model_versions_status_created` indexed every version's status; its one reader, the sweeper
  of Unity Catalog versions left PENDING_REGISTRATION (store/uc_models.py `expired_pending`),
  asks only for those. A partial index holds only them: a READY version is in no such index.

Revision ID: 0010_h21_fewer_write_indexes
Revises: (every head before it)
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_h21_fewer_write_indexes"
down_revision = ("0002_unity_catalog", "0004_signin_throttle", "0008_h10_history",
                 "0008_h11_policies", "0008_h14_trash", "0008_h2_storage_sealed_secrets",
                 "0008_h9_webhooks_delivery_log", "0009_h12_model_scan",
                 "0009_h13_model_signing")
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'PENDING_REGISTRATION'")


def upgrade() -> None:
    op.drop_index("ix_model_history_time", "model_history")
    op.drop_index("ix_model_versions_status_created", "model_versions")
    op.create_index("ix_model_versions_pending_created", "model_versions", ["created_at"],
                    sqlite_where=_PENDING, postgresql_where=_PENDING)
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("audit_events", recreate="always") as batch:
            batch.alter_column("seq", existing_type=sa.BigInteger(), type_=sa.Integer(),
                               existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("audit_events", recreate="always") as batch:
            batch.alter_column("seq", existing_type=sa.Integer(), type_=sa.BigInteger(),
                               existing_nullable=False)
    op.drop_index("ix_model_versions_pending_created", "model_versions")
    op.create_index("ix_model_versions_status_created", "model_versions",
                    ["status", "created_at"])
    op.create_index("ix_model_history_time", "model_history", ["time"])
