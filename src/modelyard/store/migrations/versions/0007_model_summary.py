"""Model summaries: a model's tags, aliases and latest versions kept on its row.

A model search read them from five tables per hit; at 1M versions those reads are scattered
and a 100-model search cost twice what it cost at 10k (store/model_summary.py). Existing models
get their summary here, computed by the same expression that keeps it current (one UPDATE;
about 5 s for 100k models with 1M versions on SQLite).

Revision ID: 0007_model_summary
Revises: 0005_tag_search
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from modelyard.store import model_summary

revision = "0007_model_summary"
down_revision = "0005_tag_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("registered_models", sa.Column("summary", sa.Text, nullable=False,
                                                 server_default=model_summary.EMPTY))
    model_summary.refresh_all(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("registered_models") as batch:
        batch.drop_column("summary")
