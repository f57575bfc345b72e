"""Apply Alembic migrations at start-up, safely from several processes at once."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelyard.store.database import Database

# Any fixed number: all Modelyard processes agree on it, nothing else on the server uses it.
_PG_MIGRATION_LOCK = 0x6D6F64656C


def _config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("modelyard.store").joinpath("migrations"))
    )
    return config


def upgrade(database: Database) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    config = _config()
    # Features add their own revisions off the core; upgrading to every head applies them all.
    heads = set(ScriptDirectory.from_config(config).get_heads())
    connection = database.engine.connect().execution_options(modelyard_write=True)
    with connection as conn, conn.begin():
        if database.dialect == "postgresql":
            # Two replicas starting together must not both create the schema.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        current = set(MigrationContext.configure(conn).get_current_heads())
        if current == heads:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
