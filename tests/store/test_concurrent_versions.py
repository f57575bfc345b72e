"""Version numbers stay 1..N, with no gap and no duplicate, under concurrent creators; the
model's summary (what search answers with) stays equal to its tables under concurrent writers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.summaries import stale_summaries

API = "/api/2.0/mlflow"
CLIENTS = 8
PER_CLIENT = 25


STAGES = ("Staging", "Production", "Archived")


def _hammer(urls: list[str], name: str) -> list[str]:
    """Eight clients, spread over the servers, each creating PER_CLIENT versions, tagging each,
    moving every fifth to a stage and pointing its own alias at it."""

    def client(index: int) -> list[str]:
        with http_clients.Client(base_url=urls[index % len(urls)], timeout=60) as http:
            versions = []
            for _ in range(PER_CLIENT):
                response = http.post(API + "/model-versions/create",
                                     json={"name": name, "source": f"s3://b/{index}"})
                assert response.status_code == 200, response.text
                version = response.json()["model_version"]["version"]
                versions.append(version)
                tag = {"name": name, "version": version, "key": "client", "value": str(index)}
                writes = [("/model-versions/set-tag", tag)]
                if int(version) % 5 == 0:
                    writes += [
                        ("/model-versions/transition-stage",
                         {"name": name, "version": version, "stage": STAGES[index % 3],
                          "archive_existing_versions": index % 3 != 2 and index % 2 == 0}),
                        ("/registered-models/alias",
                         {"name": name, "alias": f"client{index}", "version": version})]
                for path, body in writes:
                    response = http.post(API + path, json=body)
                    assert response.status_code == 200, response.text
            return versions

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [v for chunk in pool.map(client, range(CLIENTS)) for v in chunk]


def _check(url: str, name: str, created: list[str]) -> None:
    total = CLIENTS * PER_CLIENT
    assert sorted(int(v) for v in created) == list(range(1, total + 1))
    listed = http_clients.get(url + API + "/model-versions/search",
                              params={"filter": f"name = '{name}'", "max_results": 1000}).json()
    assert sorted(int(v["version"]) for v in listed["model_versions"]) == list(range(1, total + 1))
    # Search answers from the summary, get reads the tables: the same latest versions, tags
    # and aliases after the concurrent writes.
    got = http_clients.get(url + API + "/registered-models/get", params={"name": name}).json()
    found = http_clients.get(url + API + "/registered-models/search",
                             params={"filter": f"name = '{name}'"}).json()["registered_models"]
    assert found == [got["registered_model"]]
    assert len(got["registered_model"]["latest_versions"]) >= 2


@pytest.fixture()
def two_servers_on_postgres(pg_available: bool, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    for url in database_url_for("postgres", pg_available):
        servers = [ServerProcess(tmp_path / f"replica-{i}", url).start() for i in range(2)]
        try:
            yield servers
        finally:
            for server in servers:
                server.stop()


def test_two_processes_on_one_postgres(two_servers_on_postgres: list[ServerProcess]) -> None:
    urls = [s.url for s in two_servers_on_postgres]
    name = "concurrent-pg"
    assert http_clients.post(urls[0] + API + "/registered-models/create",
                             json={"name": name}).status_code == 200
    created = _hammer(urls, name)
    _check(urls[1], name, created)
    for server in two_servers_on_postgres:
        assert "Traceback" not in server.log()
    server = two_servers_on_postgres[0]
    assert stale_summaries(server.database_url, server.data_dir) == []


def test_one_process_on_sqlite(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "sqlite").start()
    try:
        name = "concurrent-sqlite"
        http_clients.post(server.url + API + "/registered-models/create", json={"name": name})
        created = _hammer([server.url], name)
        _check(server.url, name, created)
        assert "Traceback" not in server.log()
    finally:
        server.stop()
    assert stale_summaries(None, server.data_dir) == []


def test_two_workers_on_sqlite(tmp_path: Path) -> None:
    """Two worker processes share one SQLite file; its write lock serializes them."""
    server = ServerProcess(tmp_path / "sqlite2", workers=2).start()
    try:
        name = "concurrent-sqlite-workers"
        http_clients.post(server.url + API + "/registered-models/create", json={"name": name})
        created = _hammer([server.url], name)
        _check(server.url, name, created)
        assert "Traceback" not in server.log()
    finally:
        server.stop()
