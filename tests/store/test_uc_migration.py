"""Upgrading a database that already holds workspace-registry data to the Unity Catalog schema
keeps every model, version, tag and alias, and creates catalog `main` with schema `default`."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from modelyard.store import migrate
from modelyard.store.database import Database


def _count(database: Database, table: str) -> int:
    with database.read() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_upgrade_from_the_registry_core_keeps_data(fresh_database: Database) -> None:
    config = migrate._alembic_config()
    with fresh_database.engine.connect().execution_options(modelyard_write=True) as conn, \
            conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with fresh_database.write() as conn:
        conn.execute(text(
            "INSERT INTO registered_models (registry, name, description, user_id, created_at, "
            "updated_at, last_version) VALUES ('workspace', 'fraud', '', 'ana', 1, 1, 1)"))
        model_id = conn.execute(text("SELECT id FROM registered_models")).scalar_one()
        conn.execute(text(
            "INSERT INTO model_versions (model_id, version, source, run_id, run_link, "
            "logged_model_id, description, stage, status, status_message, user_id, "
            "created_at, updated_at) VALUES (:m, 1, 's3://b/m', '', '', '', '', 'None', "
            "'READY', '', 'ana', 1, 1)"), {"m": model_id})
        version_id = conn.execute(text("SELECT id FROM model_versions")).scalar_one()
        conn.execute(text("INSERT INTO registered_model_tags VALUES (:m, 'team', 'risk')"),
                     {"m": model_id})
        conn.execute(text("INSERT INTO model_version_tags VALUES (:v, 'ok', 'yes')"),
                     {"v": version_id})
        conn.execute(text("INSERT INTO registered_model_aliases VALUES (:m, 'champion', 1)"),
                     {"m": model_id})

    migrate.upgrade(fresh_database)

    for table in ("registered_models", "model_versions", "registered_model_tags",
                  "model_version_tags", "registered_model_aliases"):
        assert _count(fresh_database, table) == 1, table
    with fresh_database.read() as conn:
        assert conn.execute(text(
            "SELECT c.name, s.name FROM uc_schemas s JOIN uc_catalogs c ON c.id = s.catalog_id"
        )).all() == [("main", "default")]
