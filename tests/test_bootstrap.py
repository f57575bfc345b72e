"""modelyard/bootstrap.py: what runs on every commit, in which order, and what `build` wires."""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.fernet import Fernet

from modelyard import bootstrap
from modelyard.config import Settings
from modelyard.services import audit, grants, history, trash, webhooks
from modelyard.store.cooperative import run_cooperatively
from modelyard.store.database import Database, sqlite_url_for
from modelyard.store.migrate import upgrade
from modelyard.store.secret_box import SecretBox


def test_commit_hooks_run_in_the_stated_order(tmp_path: Path) -> None:
    box = SecretBox(Fernet.generate_key())
    units, dispatcher = bootstrap.units_for(Database(sqlite_url_for(tmp_path)), box)
    assert units.before_commit == [audit.append, history.record, grants.follow_changes,
                                   webhooks.follow_models, trash.follow_renames,
                                   dispatcher.before_commit]
    assert units.after_commit == [dispatcher.after_commit]
    assert units.on_denied == [audit.append]


def test_build_wires_collaborators_and_starts_nothing(tmp_path: Path) -> None:
    database = Database(sqlite_url_for(tmp_path))
    upgrade(database)
    before = {t.name for t in threading.enumerate()}
    built = bootstrap.build(Settings(data_dir=tmp_path), database)
    try:
        assert {t.name for t in threading.enumerate()} == before
        assert built.registry.promotion is not None
        assert built.registry.promotion.uc_models is built.uc_models
        assert built.model_files.uc_models is built.uc_models
        assert built.uc_models.artifacts is built.artifacts is built.uc_catalogs.artifacts
        assert built.webhooks.units is built.units is built.registry.units
        # Handlers run in greenlets on SQLite too: a write waits there for its group's COMMIT.
        assert built.cooperative is run_cooperatively
        assert built.cooperative_reads is False  # a read on SQLite waits for nothing
        # The event stream's follower is woken by this process's commits.
        assert built.events.wake in built.units.after_commit
        assert built.history.registry is built.registry
    finally:
        database.dispose()
