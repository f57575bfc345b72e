"""The object store down: file operations answer 503 with Retry-After in their surface's format,
everything that does not need the files keeps working (the web UI's version page shows the
version's metadata), /health stays up, and files are served again once the store is back.

A SeaweedFS of this module's own, stopped and started again: the session's shared one keeps
serving the other tests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ENGINES, database_url_for
from tests.support import http_clients, s3
from tests.support.server import ServerProcess
from tests.support.uc_models import (
    create_pending_version,
    finalize,
    fs_prefix,
    upload_dir,
)

UC = "/api/2.1/unity-catalog"
DBX = "/api/2.0/mlflow/unity-catalog"


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3.S3Process]:
    process = s3.seaweedfs(tmp_path_factory.mktemp("weed-outage")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def s3_servers(weed: s3.S3Process, pg_available: bool,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """A server on each engine, both storing in `weed`: one outage serves both (SeaweedFS
    takes ~13 s to come back)."""
    servers, databases = [], []
    try:
        for engine in ENGINES:
            if engine == "postgres" and not pg_available:
                continue  # reported by the session header; SQLite still runs
            database = database_url_for(engine, pg_available)
            databases.append(database)
            bucket = weed.create_bucket(f"outage-{uuid.uuid4().hex[:8]}")
            servers.append(ServerProcess(
                tmp_path_factory.mktemp(f"s3-outage-{engine}"), next(database),
                extra_args=["--storage-root", f"s3://{bucket}/governed"],
                env=weed.env).start())
        yield servers
    finally:
        for server in servers:
            server.stop()
        for database in databases:
            database.close()


def _model_files(tmp_path: Path) -> Path:
    """The files of a signed model as they are stored: an MLmodel and a weights file (written
    here: saving a real model costs seconds, and no test here loads it)."""
    directory = tmp_path / "model"
    directory.mkdir()
    column = '[{"type": "long", "name": "x", "required": true}]'
    (directory / "MLmodel").write_text(
        "artifact_path: model\nflavors:\n  python_function:\n    loader_module: x\n"
        f"signature:\n  inputs: '{column}'\n  outputs: '{column}'\n")
    (directory / "weights.bin").write_bytes(b"\x01" * 1000)
    return directory


def _unavailable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, (response.request.url, response.text[:300])
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["error_code"] == code, body
    assert "object store" in body["message"]


def test_object_store_outage(weed: s3.S3Process, s3_servers: list[ServerProcess],
                             tmp_path: Path) -> None:
    name = f"main.default.outage_{uuid.uuid4().hex[:6]}"
    source = _model_files(tmp_path)
    urls = []
    for server in s3_servers:
        with http_clients.Client(base_url=server.url, timeout=60) as http:
            ready = create_pending_version(http, name)
            upload_dir(http, name, ready, source)
            assert finalize(http, name, ready).status_code == 200
            pending = create_pending_version(http, name)
            urls.append((
                http.post("/api/2.0/fs/create-download-url",
                          json={"path": f"{fs_prefix(name, ready)}/MLmodel"}).json()["url"],
                http.post("/api/2.0/fs/create-upload-url",
                          json={"path": f"{fs_prefix(name, pending)}/MLmodel"}).json()["url"],
                ready, pending))

    weed.kill()  # the store crashes
    try:
        for server, (download, upload, ready, pending) in zip(s3_servers, urls, strict=True):
            with http_clients.Client(base_url=server.url, timeout=60) as http:
                # What needs the files: 503, in each surface's envelope.
                _unavailable(http_clients.get(download, timeout=60), "TEMPORARILY_UNAVAILABLE")
                _unavailable(http_clients.put(upload, content=b"x", timeout=60),
                             "TEMPORARILY_UNAVAILABLE")
                _unavailable(http.get(f"/api/modelyard/v1/uc/models/{name}/versions/{ready}"
                                      "/files/MLmodel"), "UNAVAILABLE")
                _unavailable(finalize(http, name, pending), "TEMPORARILY_UNAVAILABLE")
                # What does not: served as ever.
                assert http.get(f"{UC}/models/{name}/versions/{ready}").status_code == 200
                assert http.get(f"{DBX}/model-versions/get",
                                params={"name": name, "version": ready}).status_code == 200
                assert http.get(f"/api/modelyard/v1/uc/models/{name}/versions/{ready}/files"
                                ).status_code == 200  # the recorded list, from the database
                catalog, schema, model = name.split(".")
                page = http.get(f"/catalogs/{catalog}/{schema}/{model}/versions/{ready}")
                assert page.status_code == 200, page.text[:500]
                assert "MLmodel" in page.text and "could not be read" in page.text
                assert http.get("/health").status_code == 200
    finally:
        weed.start()

    for server, (download, *_) in zip(s3_servers, urls, strict=True):
        deadline = time.monotonic() + 30
        while (answer := http_clients.get(download, timeout=60)).status_code != 200:
            assert answer.status_code == 503, answer.text
            assert time.monotonic() < deadline, "the store is back, the files are not"
            time.sleep(0.2)
        assert b"signature" in answer.content
        log = server.log()  # no request answered by the unhandled-error handler (a 500)
        assert "unhandled error" not in log, log[log.find("unhandled error"):][:4000]
