"""Bring the schema to every head at start-up, safely from several processes at once.

Start-up must stay under a second, and importing Alembic (with the Mako and Pygments it pulls
in) costs a third of one, running the whole chain of revisions another seventh. So Alembic is
loaded only to upgrade a database that has an older schema:

- already at every head (the common case): decided without Alembic, the heads read from the
  revision files, the current ones from the `alembic_version` table;
- empty (a first start): the tables are created from `store.tables` in one step, the rows the
  revisions seed are inserted and the heads stamped, as Alembic's cookbook describes
  ("building an up to date database from scratch");
- anything else: Alembic upgrades it.

tests/store/test_migrate.py holds the created schema equal to the migrated one on both engines.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Column, Connection, MetaData, PrimaryKeyConstraint, String, Table, inspect
from sqlalchemy.engine import make_url

from modelyard.store import tables
from modelyard.store.database import Database
from modelyard.store.secret_box import SecretBox

# Any fixed number: all Modelyard processes agree on it, nothing else on the server uses it.
_PG_MIGRATION_LOCK = 0x6D6F64656C
_REVISION = re.compile(r'^revision\s*=\s*"([^"]+)"', re.MULTILINE)
# A tuple of parents may span lines (a revision that merges several heads).
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(\([^)]*\)|.+)$", re.MULTILINE)


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


def probe_heads(database: Database) -> set[str]:
    """The schema's revisions, read afresh for a readiness check. A SQLite file is opened anew
    each time: the pooled connections keep a file that was deleted or unmounted readable, and
    would say all is well."""
    url = make_url(database.url)
    if database.is_sqlite and url.database not in (None, "", ":memory:"):
        connection = sqlite3.connect(f"{Path(url.database).as_uri()}?mode=rw", uri=True,
                                     timeout=2.0)
        try:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            connection.close()
        return {row[0] for row in rows}
    with database.engine.connect() as conn:
        return current_heads(conn)


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    return config


#: Alembic's own bookkeeping table, as Alembic creates it.
_ALEMBIC_VERSION = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)

Outcome = Literal["current", "created", "migrated"]


def upgrade(database: Database, secret_box: SecretBox | None = None) -> Outcome:
    """Bring the schema to every head: "current" when it was there already, "created" when the
    database was empty, "migrated" when Alembic upgraded it. Revisions that encrypt stored
    secrets use `secret_box` (without one they leave them for the server's start to seal)."""
    heads = script_heads()
    connection = database.engine.connect().execution_options(modelyard_write=True)
    with connection as conn, conn.begin():
        if database.dialect == "postgresql":
            # Two replicas starting together must not both create the schema.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        present = current_heads(conn)
        if present == heads:
            return "current"
        if not present and not inspect(conn).get_table_names():
            _create_at_heads(conn, heads)
            return "created"
        from alembic import command

        config = _alembic_config()
        config.attributes["connection"] = conn
        config.attributes["secret_box"] = secret_box
        # Features add their own revisions off the core; upgrading to every head applies them.
        command.upgrade(config, "heads")
        return "migrated"


def _create_at_heads(conn: Connection, heads: set[str]) -> None:
    create_unseeded(conn, heads)
    _seed(conn)


def create_unseeded(conn: Connection, heads: set[str]) -> None:
    """Every table at `heads`, empty: the schema a restore (services/backup.py) fills with the
    rows of a backup, seeded rows included."""
    tables.metadata.create_all(conn)
    _ALEMBIC_VERSION.create(conn)
    conn.execute(_ALEMBIC_VERSION.insert(), [{"version_num": head} for head in sorted(heads)])


def _seed(conn: Connection) -> None:
    """The rows the revisions insert into an empty database: revision 0002_unity_catalog's
    `main` catalog with its `default` schema. (A revision must not import this: revisions stay
    as they were written; the test compares both databases' rows.)"""
    now = time.time_ns() // 1_000_000
    catalog_id = str(uuid.uuid4())
    audit = {"owner": "admin", "created_at": now, "created_by": "admin", "updated_at": now,
             "updated_by": "admin"}
    conn.execute(tables.uc_catalogs.insert(), {
        "id": catalog_id, "name": "main", "properties": "{}",
        "comment": "Main catalog (created automatically)", **audit})
    conn.execute(tables.uc_schemas.insert(), {
        "id": str(uuid.uuid4()), "catalog_id": catalog_id, "name": "default",
        "properties": "{}", "comment": "Default schema (created automatically)", **audit})
