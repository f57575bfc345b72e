"""Empty databases of either engine for the schema tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelyard.store.database import Database, sqlite_url_for
from tests.support import postgres

EmptyDatabases = Callable[[], Database]


@pytest.fixture(params=["sqlite", "postgres"])
def empty_databases(request: pytest.FixtureRequest, tmp_path: Path,
                    pg_available: bool) -> Iterator[EmptyDatabases]:
    """Makes new empty databases of the parameter's engine; all are dropped afterwards."""
    if request.param == "postgres" and not pg_available:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432: PostgreSQL run skipped")
    made: list[tuple[Database, str | None]] = []

    def make() -> Database:
        if request.param == "sqlite":
            folder = tmp_path / f"db{len(made)}"
            folder.mkdir()
            made.append((Database(sqlite_url_for(folder)), None))
        else:
            name, url = postgres.create_database()
            made.append((Database(url), name))
        return made[-1][0]

    try:
        yield make
    finally:
        for database, name in made:
            database.dispose()
            if name is not None:
                postgres.drop_database(name)


@pytest.fixture()
def fresh_database(empty_databases: EmptyDatabases) -> Database:
    return empty_databases()
