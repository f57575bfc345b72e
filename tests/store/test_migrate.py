"""Start-up decides "schema up to date" without Alembic; it must agree with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from modelyard.store import migrate
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
