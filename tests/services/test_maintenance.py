"""The server keeps PostgreSQL's planner statistics current when autovacuum does not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from modelyard.services.maintenance import STATISTICS_INTERVAL, refresh_statistics
from modelyard.store.database import Database
from tests.support import postgres
from tests.support.server import ServerProcess

API = "/api/2.0/mlflow"
TABLES = ("registered_models", "registered_model_tags")


@pytest.fixture()
def pg_server(pg_available: bool, tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    if not pg_available:
        pytest.skip("PostgreSQL not reachable")
    name, url = postgres.create_database()
    server = ServerProcess(tmp_path / "server", url).start()
    try:
        # As on the machines this is built on: only the server's own upkeep analyzes them.
        with psycopg.connect(_dsn(name), autocommit=True) as conn:
            for table in TABLES:
                conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
        yield server, name
    finally:
        server.stop()
        postgres.drop_database(name)


def _dsn(database: str) -> str:
    return postgres.ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"


def _last_analyzed(database: str) -> dict[str, object]:
    with psycopg.connect(_dsn(database)) as conn:
        rows = conn.execute("SELECT relname, last_analyze FROM pg_stat_user_tables"
                            " WHERE relname = ANY(%s)", [list(TABLES)]).fetchall()
    return dict(rows)


def test_a_filled_registry_gets_its_tables_analyzed(pg_server: tuple[ServerProcess, str]) -> None:
    server, database = pg_server
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for number in range(120):
            response = client.post(API + "/registered-models/create", json={
                "name": f"m{number:03d}", "tags": [{"key": "team", "value": f"t{number % 4}"}]})
            assert response.status_code == 200, response.text
    deadline = time.monotonic() + 3 * STATISTICS_INTERVAL + 15
    while time.monotonic() < deadline:
        analyzed = _last_analyzed(database)
        if len(analyzed) == 2 and all(analyzed.values()):
            break
        time.sleep(0.5)
    assert all(analyzed.values()) and len(analyzed) == 2, analyzed
    # Analyzed once: with nothing changed since, nothing is stale.
    url = postgres.ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    db = Database(f"{url}/{database}")
    try:
        assert refresh_statistics(db) == []
    finally:
        db.dispose()
