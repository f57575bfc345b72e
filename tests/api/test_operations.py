"""`/ready` over HTTP, on both engines: 200 while the database answers at the expected schema
revisions and the artifact store answers; 503, saying which, when one does not; 200 again when
it is back. `/health` (liveness) answers 200 throughout.

PostgreSQL "goes away" through a TCP proxy cut in front of a database of the test's own (the
shared server is never stopped); SQLite's file is moved away (an unmounted volume).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support import http_clients, postgres
from tests.support.server import ServerProcess
from tests.support.tcp_proxy import TcpProxy


@dataclass
class Deployment:
    engine: str
    server: ServerProcess
    proxy: TcpProxy | None
    direct_dsn: str | None  # PostgreSQL: the database, not through the proxy

    def execute(self, sql: str) -> None:
        if self.direct_dsn is not None:
            with psycopg.connect(self.direct_dsn, autocommit=True) as conn:
                conn.execute(sql)
            return
        with sqlite3.connect(self.server.data_dir / "modelyard.db") as conn:
            conn.execute(sql)

    def take_database_away(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
        else:
            db = self.server.data_dir / "modelyard.db"
            db.rename(db.with_name("moved-away.db"))

    def bring_database_back(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
        else:
            moved = self.server.data_dir / "moved-away.db"
            moved.rename(moved.with_name("modelyard.db"))


@pytest.fixture(scope="module")
def deployment(engine: str, pg_available: bool,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    data_dir = tmp_path_factory.mktemp(f"ready-{engine}")
    if engine == "sqlite":
        server = ServerProcess(data_dir).start()
        try:
            yield Deployment(engine, server, None, None)
        finally:
            server.stop()
        return
    if not pg_available:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432: PostgreSQL run skipped")
    name, url = postgres.create_database()
    proxy = TcpProxy(("127.0.0.1", 5432)).start()
    try:
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        server = ServerProcess(data_dir, proxied).start()
        try:
            direct = url.replace("postgresql+psycopg://", "postgresql://")
            yield Deployment(engine, server, proxy, direct)
        finally:
            server.stop()
    finally:
        proxy.stop()
        postgres.drop_database(name)


def _ready(server: ServerProcess) -> httpx.Response:
    return http_clients.get(server.url + "/ready", timeout=30)


def _until(server: ServerProcess, status: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        answer = _ready(server)
        if answer.status_code == status or time.monotonic() > deadline:
            assert answer.status_code == status, answer.text
            body: dict[str, Any] = answer.json()
            return body
        time.sleep(0.1)


def test_ready_when_everything_answers(deployment: Deployment) -> None:
    answer = _ready(deployment.server)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "checks": {
        "database": "ok", "migrations": "ok", "storage": "ok"}}


def test_not_ready_while_the_database_is_away(deployment: Deployment) -> None:
    deployment.take_database_away()
    try:
        body = _until(deployment.server, 503)
        assert body["status"] == "unavailable"
        assert body["checks"]["database"].startswith("unreachable (")
        assert body["checks"]["storage"] == "ok"
        assert http_clients.get(deployment.server.url + "/health").status_code == 200  # alive
    finally:
        deployment.bring_database_back()
    assert _until(deployment.server, 200)["status"] == "ready"


def test_not_ready_while_the_schema_is_not_this_servers(deployment: Deployment) -> None:
    deployment.execute("INSERT INTO alembic_version (version_num) VALUES ('9999_from_later')")
    try:
        body = _until(deployment.server, 503)
        assert "9999_from_later" in body["checks"]["migrations"]
        assert body["checks"]["database"] == "ok"
    finally:
        deployment.execute("DELETE FROM alembic_version WHERE version_num = '9999_from_later'")
    _until(deployment.server, 200)


def test_not_ready_while_the_artifact_store_is_away(deployment: Deployment) -> None:
    artifacts = Path(deployment.server.data_dir) / "artifacts"
    artifacts.rename(artifacts.with_name("artifacts-away"))
    try:
        body = _until(deployment.server, 503)
        assert body["checks"]["storage"] == "unreachable (FileNotFoundError)"
        assert body["checks"]["database"] == "ok"
    finally:
        artifacts.with_name("artifacts-away").rename(artifacts)
    _until(deployment.server, 200)
