"""A model's summary kept by the write that inserts a version (store/model_summary.py
`with_new_version`) equals the summary computed from the tables, on both engines: what a model
search answers with after versions are created, imported into a gap, moved between stages and
aliased.

(The server fixture of tests/conftest.py checks every summary after the whole session too.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.bootstrap import Modelyard, build
from modelyard.config import Settings
from modelyard.domain.actor import LOCAL_ADMIN as ADMIN
from modelyard.store.database import Database
from modelyard.store.migrate import upgrade
from tests.store.conftest import EmptyDatabases
from tests.support.summaries import stale_summaries


@pytest.fixture()
def registry_on(empty_databases: EmptyDatabases,
                tmp_path: Path) -> Iterator[tuple[Modelyard, Database]]:
    database = empty_databases()
    upgrade(database)
    yield build(Settings(data_dir=tmp_path), database), database


def _stale(database: Database) -> list[str]:
    return stale_summaries(database.url, Path())


def _latest(built: Modelyard, name: str) -> dict[str, tuple[str, dict[str, str], list[str]]]:
    """The model's latest version per stage, as the model search (which reads the summary)
    answers: stage → (version, its tags, its aliases)."""
    (model,) = built.registry.search_registered_models(ADMIN, f"name = '{name}'").items
    return {v.current_stage.value: (str(v.version), dict(v.tags), sorted(v.aliases))
            for v in model.latest_versions}


def test_new_versions_keep_the_summary_equal_to_the_tables(
        registry_on: tuple[Modelyard, Database]) -> None:
    built, database = registry_on
    registry, importer = built.registry, built.version_import
    steps = [
        lambda: registry.create_registered_model(ADMIN, "m", tags={"team": "a"}),
        lambda: registry.create_model_version(ADMIN, "m", "s3://b/1", run_id="r", tags={"k": "1"}),
        lambda: registry.transition_model_version_stage(ADMIN, "m", 1, "Production"),
        lambda: registry.create_model_version(ADMIN, "m", "s3://b/2", tags={"k": "2", "j": "x"}),
        lambda: registry.set_registered_model_alias(ADMIN, "m", "champion", 2),
        lambda: registry.create_model_version(ADMIN, "m", "s3://b/3", description="third"),
        # Imported versions may skip numbers and come in any stage.
        lambda: importer.import_workspace_version(ADMIN, "m", 5, "s3://b/5", stage="Staging",
                                                  tags={"imported": "yes"}),
        lambda: importer.import_workspace_version(ADMIN, "m", 7, "s3://b/7", stage="Archived",
                                                  description="old"),
        lambda: registry.delete_model_version(ADMIN, "m", 3),
        lambda: registry.create_model_version(ADMIN, "m", "s3://b/8", tags={"k": "8"}),
        # Tags and aliases change the stored summary in place (store/summary_edits.py).
        lambda: registry.set_registered_model_tag(ADMIN, "m", "team", "b"),
        lambda: registry.set_registered_model_tag(ADMIN, "m", "owner", "c"),
        lambda: registry.delete_registered_model_tag(ADMIN, "m", "owner"),
        lambda: registry.set_model_version_tag(ADMIN, "m", 8, "k", "eight"),
        lambda: registry.set_model_version_tag(ADMIN, "m", 8, "new", "tag"),
        lambda: registry.set_model_version_tag(ADMIN, "m", 2, "not", "latest"),
        lambda: registry.delete_model_version_tag(ADMIN, "m", 8, "new"),
        lambda: registry.delete_model_version_tag(ADMIN, "m", 2, "not"),
        lambda: registry.set_registered_model_alias(ADMIN, "m", "champion", 8),
        lambda: registry.set_registered_model_alias(ADMIN, "m", "old", 1),
        lambda: registry.set_registered_model_alias(ADMIN, "m", "old", 7),
        lambda: registry.set_registered_model_alias(ADMIN, "m", "both", 7),
        lambda: registry.delete_registered_model_alias(ADMIN, "m", "old"),
        lambda: registry.create_registered_model(ADMIN, "n", tags={"a": "1", "b": "2"}),
    ]
    for number, step in enumerate(steps):
        step()
        assert _stale(database) == [], f"after step {number}"
    assert _latest(built, "m") == {"Production": ("1", {"k": "1"}, []),
                                   "Staging": ("5", {"imported": "yes"}, []),
                                   "Archived": ("7", {}, ["both"]),
                                   "None": ("8", {"k": "eight"}, ["champion"])}
