"""Start-up decides "schema up to date" without Alembic and creates an empty database without
it; both must agree with Alembic."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from modelyard.store import migrate, model_summary
from modelyard.store.database import Database, sqlite_url_for
from tests.store.conftest import EmptyDatabases


def test_heads_read_from_files_match_alembic() -> None:
    alembic_heads = set(ScriptDirectory.from_config(migrate._alembic_config()).get_heads())
    assert migrate.script_heads() == alembic_heads


def test_upgrade_then_noop(tmp_path: Path) -> None:
    database = Database(sqlite_url_for(tmp_path))
    assert migrate.upgrade(database) == "created"
    with database.engine.connect() as conn:
        assert migrate.current_heads(conn) == migrate.script_heads()
    # Already at every head: nothing to do, nothing fails.
    assert migrate.upgrade(database) == "current"
    database.dispose()


def _alembic_upgrade(database: Database) -> None:
    from alembic import command

    with database.engine.connect().execution_options(modelyard_write=True) as conn, \
            conn.begin():
        config = migrate._alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")


def _schema(conn: Connection) -> dict[str, Any]:
    """What a query or a constraint can tell apart: columns (type, nullability, server
    default), keys, foreign keys with their ON DELETE, indexes with their options."""
    sqlite = conn.dialect.name == "sqlite"
    inspector = inspect(conn)
    schema: dict[str, Any] = {}
    for table in inspector.get_table_names():
        columns = {}
        for column in inspector.get_columns(table):
            kind = str(column["type"])
            if sqlite:  # SQLite keeps a declared length but never enforces it
                kind = re.sub(r"\(\d+\)", "", kind)
            columns[column["name"]] = (kind, column["nullable"], str(column.get("default")))
        if sqlite:
            # SQLAlchemy does not read ON DELETE of a column added by ALTER TABLE; SQLite does.
            foreign = sorted((row[3], row[2], row[4], row[6]) for row in conn.exec_driver_sql(
                f"PRAGMA foreign_key_list({table})"))
        else:
            foreign = sorted((tuple(fk["constrained_columns"]), fk["referred_table"],
                              tuple(fk["referred_columns"]), str(fk.get("options")))
                             for fk in inspector.get_foreign_keys(table))
        schema[table] = {
            "columns": columns,
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": foreign,
            "indexes": sorted((index["name"], tuple(map(str, index["column_names"])),
                               bool(index["unique"]),
                               # a partial index's WHERE is reflected as a clause: its text
                               str({key: str(value) for key, value
                                    in (index.get("dialect_options") or {}).items()}))
                              for index in inspector.get_indexes(table)),
            "unique": sorted((u["name"], tuple(u["column_names"]))
                             for u in inspector.get_unique_constraints(table)),
        }
    return schema


def _rows(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, without the columns that differ by construction (generated ids,
    references to them, clock readings)."""
    rows = {}
    for table in inspect(conn).get_table_names():
        names = [column["name"] for column in inspect(conn).get_columns(table)
                 if not re.search(r"(^id|_id|_at)$", column["name"])]
        listed = ", ".join(f'"{name}"' for name in names) or "count(*)"
        rows[table] = sorted(tuple(row) for row in conn.execute(text(
            f"SELECT {listed} FROM {table}")))
    return rows


def test_an_empty_database_is_created_as_the_revisions_would_build_it(
        empty_databases: EmptyDatabases) -> None:
    migrated, created = empty_databases(), empty_databases()
    _alembic_upgrade(migrated)
    assert migrate.upgrade(created) == "created"
    with migrated.engine.connect() as old, created.engine.connect() as new:
        assert _schema(new) == _schema(old)
        assert _rows(new) == _rows(old)
        assert [tuple(row) for row in new.execute(text(
            "SELECT c.name, s.name FROM uc_schemas s JOIN uc_catalogs c ON c.id = s.catalog_id"
        ))] == [("main", "default")]
    assert migrate.upgrade(created) == "current"


def test_a_first_start_does_not_load_alembic(tmp_path: Path) -> None:
    """Importing Alembic is a third of a second of every first start; creating the schema
    does not need it."""
    script = (
        "import sys\n"
        "from modelyard.store import migrate\n"
        "from modelyard.store.database import Database, sqlite_url_for\n"
        "from pathlib import Path\n"
        f"print(migrate.upgrade(Database(sqlite_url_for(Path({str(tmp_path)!r})))), "
        "'alembic' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["created", "False"]


def test_upgrade_gives_existing_models_their_summary(tmp_path: Path) -> None:
    """Revision 0007 computes the summary of every model already in the database."""
    from alembic import command

    database = Database(sqlite_url_for(tmp_path))
    with database.engine.connect() as conn, conn.begin():
        config = migrate._alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0005_tag_search")
        conn.exec_driver_sql(
            "INSERT INTO registered_models (id, registry, name, description, user_id, "
            "created_at, updated_at, last_version) VALUES (1, 'workspace', 'm', '', 'u', 1, 1, 3),"
            " (2, 'workspace', 'n', '', 'u', 1, 1, 0)")
        for version, stage in ((1, "Production"), (2, "None"), (3, "None")):
            conn.exec_driver_sql(
                "INSERT INTO model_versions (id, model_id, version, source, run_id, run_link, "
                "logged_model_id, description, stage, status, status_message, user_id, "
                f"created_at, updated_at) VALUES ({version}, 1, {version}, 's', '', '', '', '', "
                f"'{stage}', 'READY', '', 'u', 1, 1)")
        conn.exec_driver_sql("INSERT INTO registered_model_tags (model_id, key, value, value_head, "
                             "model_name) VALUES (1, 'team', 'a', 'a', 'm')")
        conn.exec_driver_sql("INSERT INTO model_version_tags (version_id, key, value, value_head) "
                             "VALUES (3, 'ok', 'yes', 'yes')")
        conn.exec_driver_sql("INSERT INTO registered_model_aliases (model_id, alias, version) "
                             "VALUES (1, 'champion', 3)")
    migrate.upgrade(database)
    with database.engine.connect() as conn:
        summaries = dict(conn.exec_driver_sql(
            "SELECT name, summary FROM registered_models").all())
    database.dispose()
    tags, aliases, latest = model_summary.decode(summaries["m"])
    assert tags == [["team", "a"]] and aliases == [["champion", 3]]
    assert [(entry[3], entry[9], entry[-2], entry[-1]) for entry in latest] == [
        (1, "Production", [], []), (3, "None", [["ok", "yes"]], ["champion"])]
    assert model_summary.decode(summaries["n"]) == ([], [], [])


_BEFORE_0010 = ("0002_unity_catalog", "0004_signin_throttle", "0008_h10_history",
                "0008_h11_policies", "0008_h14_trash", "0008_h2_storage_sealed_secrets",
                "0008_h9_webhooks_delivery_log", "0009_h12_model_scan", "0009_h13_model_signing")


def test_revision_0010_keeps_the_audit_trail_and_finds_pending_versions(tmp_path: Path) -> None:
    """SQLite's audit table is rebuilt with `seq` as its row id: every row and hash kept, the
    chain still verifies and grows; the sweeper's query uses the partial index of pending
    versions; the history's as-of lookup needs no index of times."""
    from alembic import command

    from modelyard.bootstrap import build
    from modelyard.config import Settings
    from modelyard.domain.actor import LOCAL_ADMIN
    from modelyard.services.audit import verify

    database = Database(sqlite_url_for(tmp_path))
    with database.engine.connect() as conn, conn.begin():
        config = migrate._alembic_config()
        config.attributes["connection"] = conn
        for head in _BEFORE_0010:
            command.upgrade(config, head)
    registry = build(Settings(data_dir=tmp_path), database).registry
    registry.create_registered_model(LOCAL_ADMIN, "m", tags={"team": "a"}, description="d")
    registry.create_model_version(LOCAL_ADMIN, "m", "s3://b/1")
    registry.set_registered_model_alias(LOCAL_ADMIN, "m", "champion", 1)
    with database.engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT * FROM audit_events ORDER BY seq").all()
    assert len(before) >= 3

    assert migrate.upgrade(database) == "migrated"
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT * FROM audit_events ORDER BY seq").all() == before
        # No index of its own for seq: SQLite names one it makes for a key that is not the row id.
        assert conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE tbl_name = 'audit_events' "
            "AND name LIKE 'sqlite_autoindex%'").all() == []
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM model_versions "
            "WHERE status = 'PENDING_REGISTRATION' AND created_at < 5 ORDER BY created_at"))
        assert "ix_model_versions_pending_created" in plan
        # The history's as-of lookup, its one reader by time, walks one subject's entries.
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM model_history WHERE registry = 'workspace' "
            "AND model_name = 'm' AND kind = 'alias' AND subject = 'champion' AND time <= 5 "
            "ORDER BY id DESC LIMIT 1"))
        assert "ix_model_history_subject" in plan
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = "
                                    "'ix_model_history_time'").scalar() == 0
    registry.create_model_version(LOCAL_ADMIN, "m", "s3://b/2")
    problems, head = verify(database)
    assert problems == [] and head is not None and head[0] == before[-1][0] + 1
    database.dispose()
