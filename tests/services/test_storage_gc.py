"""The storage garbage sweep moves past a location it cannot remove: the others are removed,
the bad one is logged and stays queued for a later sweep. Both engines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.services.storage_gc import collect_garbage
from modelyard.storage.local import LocalArtifactStore
from modelyard.store.catalog import CatalogRepository
from modelyard.store.database import Database, sqlite_url_for
from modelyard.store.migrate import upgrade
from tests.conftest import database_url_for


@pytest.fixture()
def database(engine: str, pg_available: bool, tmp_path: Path) -> Iterator[Database]:
    for url in database_url_for(engine, pg_available):
        database = Database(url or sqlite_url_for(tmp_path))
        upgrade(database)
        try:
            yield database
        finally:
            database.dispose()


def _queued(database: Database) -> list[str]:
    with database.read() as conn:
        return CatalogRepository(conn).garbage_batch(1000)


def test_one_bad_location_does_not_block_the_others(
        database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    good = [store.location_for("a_good"), store.location_for("c_good")]
    for location in good:
        directory = Path(location.removeprefix("file://"))
        (directory / "sub").mkdir(parents=True)
        (directory / "sub" / "weights.bin").write_bytes(b"w" * 100)
    # A plain file where a directory should be: removing it as a location fails.
    bad = store.location_for("b_bad")
    Path(bad.removeprefix("file://")).write_bytes(b"not a directory")
    with database.write() as conn:
        # The bad one queued first, and between the good ones in name order.
        CatalogRepository(conn).queue_garbage([bad], "deleted", 1)
        CatalogRepository(conn).queue_garbage(good, "deleted", 2)

    with caplog.at_level(logging.WARNING, logger="modelyard.storage"):
        assert collect_garbage(database, store) == 2
    for location in good:
        assert not Path(location.removeprefix("file://")).exists()
    assert _queued(database) == [bad]
    assert any(bad in record.getMessage() and "stays queued" in record.getMessage()
               for record in caplog.records)

    # Fixed later: the next sweep removes it.
    Path(bad.removeprefix("file://")).unlink()
    assert collect_garbage(database, store) == 1
    assert _queued(database) == []


def test_a_missing_location_is_removed_from_the_queue(database: Database,
                                                      tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    with database.write() as conn:
        CatalogRepository(conn).queue_garbage([store.location_for("never-created")],
                                              "failed", 1)
    assert collect_garbage(database, store) == 1
    assert _queued(database) == []
