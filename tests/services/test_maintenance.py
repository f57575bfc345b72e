"""The server analyzes its PostgreSQL tables, and vacuums them where autovacuum is off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from modelyard.services.maintenance import UPKEEP_INTERVAL, tend_database
from modelyard.store.database import Database
from tests.support import http_clients, postgres
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


def _last_tended(database: str) -> dict[str, tuple[object, object]]:
    """Each table's last ANALYZE and VACUUM (not autovacuum's: it is off for them)."""
    with psycopg.connect(_dsn(database)) as conn:
        rows = conn.execute("SELECT relname, last_analyze, last_vacuum FROM pg_stat_user_tables"
                            " WHERE relname = ANY(%s)", [list(TABLES)]).fetchall()
    return {name: (analyzed, vacuumed) for name, analyzed, vacuumed in rows}


def test_a_filled_registry_gets_its_tables_analyzed_and_vacuumed(
        pg_server: tuple[ServerProcess, str]) -> None:
    server, database = pg_server
    # Enough rows for both rules: inserted > 1,000 + 20% of the table's rows (VACUUM), changed
    # > 50 + 10% (ANALYZE).
    with http_clients.Client(base_url=server.url, timeout=30) as client:
        for number in range(1300):
            response = client.post(API + "/registered-models/create", json={
                "name": f"m{number:04d}", "tags": [{"key": "team", "value": f"t{number % 4}"}]})
            assert response.status_code == 200, response.text
    deadline = time.monotonic() + 3 * UPKEEP_INTERVAL + 15
    while time.monotonic() < deadline:
        tended = _last_tended(database)
        if len(tended) == 2 and all(all(times) for times in tended.values()):
            break
        time.sleep(0.5)
    assert len(tended) == 2 and all(all(times) for times in tended.values()), tended
    # Tended once: with nothing changed since, nothing is due.
    url = postgres.ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    db = Database(f"{url}/{database}")
    try:
        assert tend_database(db) == []
    finally:
        db.dispose()
