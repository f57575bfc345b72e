"""Start-up decides "schema up to date" without Alembic; it must agree with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from modelyard.store import migrate, model_summary
from modelyard.store.database import Database, sqlite_url_for


def test_heads_read_from_files_match_alembic() -> None:
    alembic_heads = set(ScriptDirectory.from_config(migrate._alembic_config()).get_heads())
    assert migrate.script_heads() == alembic_heads


def test_upgrade_then_noop(tmp_path: Path) -> None:
    database = Database(sqlite_url_for(tmp_path))
    migrate.upgrade(database)
    with database.engine.connect() as conn:
        assert migrate.current_heads(conn) == migrate.script_heads()
    migrate.upgrade(database)  # already at every head: nothing to do, nothing fails
    database.dispose()


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
