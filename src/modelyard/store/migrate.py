"""Apply Alembic migrations at start-up, safely from several processes at once.

Start-up must stay under a second, and importing Alembic costs about a tenth of one. So the
common case — the schema is already at every head — is decided without Alembic: the heads are
read from the revision files, the current ones from the `alembic_version` table. Only when they
differ is Alembic loaded to upgrade (tests/store/test_migrate.py checks both agree).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect

from modelyard.store.database import Database

# Any fixed number: all Modelyard processes agree on it, nothing else on the server uses it.
_PG_MIGRATION_LOCK = 0x6D6F64656C
_REVISION = re.compile(r'^revision\s*=\s*"([^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)


def _migrations_dir() -> Path:
    return Path(str(resources.files("modelyard.store").joinpath("migrations")))


def script_heads() -> set[str]:
    """The revisions no other revision builds on, read from the files in versions/."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_migrations_dir() / "versions").glob("*.py"):
        text = path.read_text()
        revision = _REVISION.search(text)
        if revision is None:
            continue
        revisions.add(revision.group(1))
        down = _DOWN_REVISION.search(text)
        if down is not None:
            parents.update(re.findall(r'"([^"]+)"', down.group(1)))
    return revisions - parents


def current_heads(conn: Connection) -> set[str]:
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    return config


def upgrade(database: Database) -> None:
    """Bring the schema to every head; a no-op when it is already there."""
    heads = script_heads()
    connection = database.engine.connect().execution_options(modelyard_write=True)
    with connection as conn, conn.begin():
        if database.dialect == "postgresql":
            # Two replicas starting together must not both create the schema.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        if current_heads(conn) == heads:
            return
        from alembic import command

        config = _alembic_config()
        config.attributes["connection"] = conn
        # Features add their own revisions off the core; upgrading to every head applies them.
        command.upgrade(config, "heads")
