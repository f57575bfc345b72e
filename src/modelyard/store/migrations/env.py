"""Alembic environment: always run on the connection that `store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from modelyard.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
