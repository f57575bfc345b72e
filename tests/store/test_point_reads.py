"""The hot point reads over HTTP: what they answer, and on PostgreSQL, after losing sessions.

On PostgreSQL these reads run as prepared statements on libpq (store/libpq_reads.py) and convert
their text results themselves, so the values are checked here against what was written,
characters outside ASCII, empty and missing values included.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support import http_clients, postgres
from tests.support.server import ServerProcess

API = "/api/2.0/mlflow"
NAME = "Modèle-ünïcode-😀"


def _post(client: httpx.Client, path: str, body: dict[str, object]) -> dict[str, object]:
    response = client.post(API + path, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def _write_model(client: httpx.Client) -> None:
    _post(client, "/registered-models/create",
          {"name": NAME, "description": "größer", "tags": [{"key": "team", "value": "ä"}]})
    _post(client, "/model-versions/create", {"name": NAME, "source": "s3://b/1"})
    _post(client, "/model-versions/create",
          {"name": NAME, "source": "s3://b/ü", "run_id": "r1", "description": "",
           "tags": [{"key": "k", "value": "v ✓"}, {"key": "empty", "value": ""}]})
    _post(client, "/registered-models/alias", {"name": NAME, "alias": "champion", "version": "2"})
    _post(client, "/model-versions/transition-stage",
          {"name": NAME, "version": "1", "stage": "Production", "archive_existing_versions": False})


def _reads(client: httpx.Client) -> dict[str, object]:
    by_number = client.get(API + "/model-versions/get", params={"name": NAME, "version": "2"})
    by_alias = client.get(API + "/registered-models/alias",
                          params={"name": NAME, "alias": "champion"})
    model = client.get(API + "/registered-models/get", params={"name": NAME})
    missing = client.get(API + "/model-versions/get", params={"name": NAME, "version": "9"})
    # Version searches run as the point reads do too (PointReads.search).
    search = client.get(API + "/model-versions/search", params={"filter": f"name='{NAME}'"})
    assert (by_number.status_code, by_alias.status_code, model.status_code,
            search.status_code) == (200, 200, 200, 200)
    assert missing.status_code == 404
    return {"by_number": by_number.json()["model_version"],
            "by_alias": by_alias.json()["model_version"],
            "model": model.json()["registered_model"],
            "search": search.json()["model_versions"]}


def _own_server(engine: str, pg_available: bool, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on a database of its own (this module ends database sessions)."""
    name = None
    url = None
    if engine == "postgres":
        if not pg_available:
            pytest.skip("PostgreSQL not reachable")
        name, url = postgres.create_database()
    server = ServerProcess(tmp_path / "server", url).start()
    try:
        yield server
    finally:
        server.stop()
        if name is not None:
            postgres.drop_database(name)


@pytest.fixture()
def own_server(engine: str, pg_available: bool, tmp_path: Path) -> Iterator[ServerProcess]:
    yield from _own_server(engine, pg_available, tmp_path)


@pytest.fixture()
def own_pg_server(pg_available: bool, tmp_path: Path) -> Iterator[ServerProcess]:
    yield from _own_server("postgres", pg_available, tmp_path)


def test_point_reads_answer_what_was_written(own_server: ServerProcess) -> None:
    with http_clients.Client(base_url=own_server.url, timeout=30) as client:
        _write_model(client)
        reads = _reads(client)
    version = reads["by_number"]
    assert version == reads["by_alias"]
    assert version["name"] == NAME and version["version"] == "2"
    assert version["source"] == "s3://b/ü" and version["run_id"] == "r1"
    assert version["current_stage"] == "None"
    assert version["aliases"] == ["champion"]
    assert {t["key"]: t["value"] for t in version["tags"]} == {"k": "v ✓", "empty": ""}
    assert isinstance(version["creation_timestamp"], int)
    # The search's statement is another one (compiled on first use): both must describe the
    # version alike.
    searched = {v["version"]: v for v in reads["search"]}
    assert searched["2"] == version
    model = reads["model"]
    assert model["description"] == "größer"
    assert model["tags"] == [{"key": "team", "value": "ä"}]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    assert {(v["version"], v["current_stage"]) for v in model["latest_versions"]} == {
        ("1", "Production"), ("2", "None")}


def test_reads_survive_their_database_sessions_ending(own_pg_server: ServerProcess) -> None:
    own_server = own_pg_server
    assert own_server.database_url is not None
    database = own_server.database_url.rsplit("/", 1)[1]
    with http_clients.Client(base_url=own_server.url, timeout=30) as client:
        _write_model(client)
        before = _reads(client)
        # What a database restart or an administrator's pg_terminate_backend does to the
        # server's sessions: the next reads must not fail (a 5xx makes mlflow retry for minutes).
        with psycopg.connect(postgres.ADMIN_DSN, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()", [database]).fetchall()
            assert ended and all(row[0] for row in ended)
            # pg_terminate_backend only signals: wait until those sessions have ended.
            for _ in range(100):
                if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s",
                                     [database]).fetchone():
                    break
                time.sleep(0.05)
        assert _reads(client) == before
