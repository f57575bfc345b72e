"""Session-wide fixtures: one Modelyard server per database engine, started once.

Every test that takes `server` runs against SQLite and against PostgreSQL. Without a reachable
PostgreSQL the PostgreSQL runs are skipped with a clear reason, unless CI demands them
(MODELYARD_TEST_REQUIRE_POSTGRES=1), in which case they fail.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import http_clients, postgres
from tests.support.mlflow_server import MlflowServerProcess
from tests.support.server import ServerProcess
from tests.support.summaries import stale_summaries

# The mlflow client retries 5xx answers for minutes; a 5xx from us is a bug, so fail fast.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
# MLflow 3 defaults to ./mlflow.db; a test that forgets to choose a tracking store must not
# write into the working tree.
os.environ.setdefault("MLFLOW_TRACKING_URI",
                      f"sqlite:///{tempfile.mkdtemp(prefix='modelyard-tracking-')}/mlflow.db")

# Tests start several servers, with data dirs of their own, on one PostgreSQL database: like
# replicas, they need one key for the secrets kept in it (store/secret_box.py). Tests of the key
# file itself take this variable out of the server's environment.
os.environ.setdefault("MODELYARD_SECRET_KEY", "csUaYllPYnG1KOj9oMlu8YAKKVoPu0BQPVAwrJbbfX8=")

ENGINES = ["sqlite", "postgres"]


def pytest_report_header(config: pytest.Config) -> str:
    if postgres.available():
        return "modelyard: PostgreSQL at 127.0.0.1:5432 is reachable; tests run on both engines"
    return ("modelyard: PostgreSQL is NOT reachable at 127.0.0.1:5432; "
            "the PostgreSQL runs will be SKIPPED")


@pytest.fixture(scope="session")
def pg_available() -> bool:
    ok = postgres.available()
    if not ok and postgres.required():
        pytest.fail("PostgreSQL is required (MODELYARD_TEST_REQUIRE_POSTGRES=1) but unreachable")
    return ok


def database_url_for(engine: str, pg_available: bool) -> Iterator[str | None]:
    """A fresh database for `engine`; None means SQLite in the server's data dir."""
    if engine == "sqlite":
        yield None
        return
    if not pg_available:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432: PostgreSQL run skipped")
    name, url = postgres.create_database()
    try:
        yield url
    finally:
        postgres.drop_database(name)


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def database_url(engine: str, pg_available: bool) -> Iterator[str | None]:
    yield from database_url_for(engine, pg_available)


@pytest.fixture(scope="session")
def server(
    engine: str, database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp(f"server-{engine}"), database_url).start()
    try:
        yield process
    finally:
        process.stop()
    # Every change the session's tests made kept each model's summary current.
    assert stale_summaries(database_url, process.data_dir) == []


@pytest.fixture()
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with http_clients.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture()
def unique_name(request: pytest.FixtureRequest) -> str:
    """A model name no other test uses, readable in the server log."""
    return f"{request.node.originalname.replace('_', '-')[:40]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(os.environ.get("MODELYARD_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServerProcess]:
    """One real `mlflow server` for the session (tests/web reads runs from it, import-mlflow
    copies its registry): it takes tens of seconds to start on a busy machine. Tests keep to
    names of their own."""
    process = MlflowServerProcess(tmp_path_factory.mktemp("mlflow-server")).start(timeout=120)
    try:
        yield process
    finally:
        process.stop()
