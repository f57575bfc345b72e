"""Tag indexes any value fits in, ordered by model name; model names as long as UC allows.

PostgreSQL refuses a b-tree entry over 2,704 bytes, so the (key, value, owner) indexes of
revision 0003 made setting a tag value of a few kilobytes fail (tag values may hold 100,000
characters). The indexes now hold `value_head`, the value's first 64 characters, and an equality
filter compares both the head (indexed) and the whole value.

`registered_model_tags.model_name` copies its model's name, so that `tags.team = 'x'` ordered by
name reads the first page straight from the (key, value_head, model_name) index instead of
fetching and sorting every match (1,000 of 100,000 models: 1.1 ms → 0.1 ms in SQLite).
The store keeps it equal to `registered_models.name` on insert and on every rename.

Model names widen from 512 to 1,024 characters: a UC full name is three names of up to 255.

Revision ID: 0005_tag_search
Revises: 0003_performance, 0004_webhooks
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_tag_search"
down_revision = ("0003_performance", "0004_webhooks")
branch_labels = None
depends_on = None

VALUE_HEAD = 64


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":  # SQLite does not enforce lengths
        op.alter_column("registered_models", "name", type_=sa.String(1024))
        op.alter_column("registry_webhooks", "model_name", type_=sa.String(1024))
    op.add_column("registered_model_tags",
                  sa.Column("value_head", sa.String(VALUE_HEAD), nullable=False,
                            server_default=""))
    op.add_column("registered_model_tags",
                  sa.Column("model_name", sa.String(1024), nullable=False, server_default=""))
    op.add_column("model_version_tags",
                  sa.Column("value_head", sa.String(VALUE_HEAD), nullable=False,
                            server_default=""))
    op.execute(f"UPDATE registered_model_tags SET value_head = substr(value, 1, {VALUE_HEAD}), "
               "model_name = (SELECT name FROM registered_models "
               "WHERE registered_models.id = registered_model_tags.model_id)")
    op.execute(f"UPDATE model_version_tags SET value_head = substr(value, 1, {VALUE_HEAD})")
    op.create_index("ix_registered_model_tags_search", "registered_model_tags",
                    ["key", "value_head", "model_name", "model_id"])
    op.drop_index("ix_registered_model_tags_key_value", "registered_model_tags")
    op.create_index("ix_model_version_tags_search", "model_version_tags",
                    ["key", "value_head", "version_id"])
    op.drop_index("ix_model_version_tags_key_value", "model_version_tags")


def downgrade() -> None:
    op.create_index("ix_model_version_tags_key_value", "model_version_tags",
                    ["key", "value", "version_id"])
    op.drop_index("ix_model_version_tags_search", "model_version_tags")
    op.create_index("ix_registered_model_tags_key_value", "registered_model_tags",
                    ["key", "value", "model_id"])
    op.drop_index("ix_registered_model_tags_search", "registered_model_tags")
    with op.batch_alter_table("model_version_tags") as batch:
        batch.drop_column("value_head")
    with op.batch_alter_table("registered_model_tags") as batch:
        batch.drop_column("model_name")
        batch.drop_column("value_head")
