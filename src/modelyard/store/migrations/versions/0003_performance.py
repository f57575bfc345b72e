"""Indexes for tag filters: look a tag up by (key, value) and get its owners' ids.

`tags.team = 'x'` then reads the matching tag rows from one index and the owners by id, instead
of walking every model in name order and probing its tags. The (key, value, owner) indexes also
serve key-only lookups, so they replace the (key, owner) ones of revision 0001.

Revision ID: 0003_performance
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003_performance"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_registered_model_tags_key_value", "registered_model_tags",
                    ["key", "value", "model_id"])
    op.drop_index("ix_registered_model_tags_key", "registered_model_tags")
    op.create_index("ix_model_version_tags_key_value", "model_version_tags",
                    ["key", "value", "version_id"])
    op.drop_index("ix_model_version_tags_key", "model_version_tags")


def downgrade() -> None:
    op.create_index("ix_model_version_tags_key", "model_version_tags", ["key", "version_id"])
    op.drop_index("ix_model_version_tags_key_value", "model_version_tags")
    op.create_index("ix_registered_model_tags_key", "registered_model_tags", ["key", "model_id"])
    op.drop_index("ix_registered_model_tags_key_value", "registered_model_tags")
