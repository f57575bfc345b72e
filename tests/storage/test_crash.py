"""The server killed (SIGKILL) in the middle of an upload: after a restart no READY version
has missing or partial files, and the pending version ends FAILED_REGISTRATION with its files
(including the partial one) removed. Runs on both backends."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_url_for
from tests.storage.conftest import Backend
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import (
    create_pending_version,
    finalize,
    fs_prefix,
    model_dir,
    upload_dir,
)

PENDING_TIMEOUT = 10.0
API = "/api/2.0/mlflow/unity-catalog"


def _slow_content(started: threading.Event) -> Iterator[bytes]:
    block = b"\xa5" * (1024 * 1024)
    for index in range(2048):
        if index == 64:  # 64 MiB are on their way: let the test kill the server now
            started.set()
        if index >= 64:
            time.sleep(0.05)
        yield block


def _get(http: httpx.Client, name: str, version: str) -> dict:  # type: ignore[type-arg]
    answer = http.get(f"{API}/model-versions/get", params={"name": name, "version": version})
    assert answer.status_code == 200, answer.text
    return answer.json()["model_version"]  # type: ignore[no-any-return]


@pytest.fixture()
def crash_database_url(engine: str, pg_available: bool) -> Iterator[str | None]:
    # Its own database: the short pending timeout must not fail other servers' versions.
    yield from database_url_for(engine, pg_available)


@pytest.mark.timeout(300)
def test_kill_during_upload_then_restart(backend: Backend, crash_database_url: str | None,
                                         tmp_path: Path) -> None:
    database_url = crash_database_url
    root = backend.root
    if backend.s3 is not None:
        root = f"{backend.root}-crash-{uuid.uuid4().hex[:6]}"
    else:
        root = str(tmp_path / "artifacts")
    args = ["--storage-root", root, "--pending-timeout", str(PENDING_TIMEOUT)]
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, database_url, extra_args=args, env=backend.env).start()
    name = f"main.default.crash_{uuid.uuid4().hex[:8]}"
    # Saved before any version exists: the pending clock must only time the uploads.
    first, second = model_dir(tmp_path, 1), model_dir(tmp_path, 2)
    try:
        http = http_clients.Client(base_url=server.url, timeout=60)
        ready = create_pending_version(http, name)
        upload_dir(http, name, ready, first)
        assert finalize(http, name, ready).status_code == 200

        pending = create_pending_version(http, name)
        upload_dir(http, name, pending, second)
        location = _get(http, name, pending)["storage_location"]
        url = http.post("/api/2.0/fs/create-upload-url", json={
            "path": f"{fs_prefix(name, pending)}/data/weights.bin"}).json()["url"]
        started = threading.Event()

        def upload() -> None:
            # The server dies under us: a transport error is expected.
            with contextlib.suppress(httpx.HTTPError):
                http_clients.put(url, content=_slow_content(started), timeout=120)

        uploader = threading.Thread(target=upload, daemon=True)
        uploader.start()
        assert started.wait(60)
        time.sleep(0.3)
        server.kill()  # SIGKILL: no cleanup of any kind
        uploader.join(30)
    finally:
        server.stop()

    # The crash left the version's files (and, locally, the partial temporary file) behind.
    assert _files_under(backend, root, location) != []
    restarted = ServerProcess(data_dir, database_url, extra_args=args,
                              env=backend.env).start()
    try:
        http = http_clients.Client(base_url=restarted.url, timeout=60)
        deadline = time.monotonic() + 30
        while _get(http, name, pending)["status"] == "PENDING_REGISTRATION":
            assert time.monotonic() < deadline, "the abandoned version was never failed"
            time.sleep(0.2)
        failed = _get(http, name, pending)
        assert failed["status"] == "FAILED_REGISTRATION"
        assert "abandoned" in failed["status_message"].lower()
        # The files go right after the status changes (the same sweep, after its commit).
        while _files_under(backend, root, location):
            assert time.monotonic() < deadline, _files_under(backend, root, location)
            time.sleep(0.2)

        # Every READY version is whole: each recorded file is there with its digest.
        versions = http.get(f"{API}/model-versions/search",
                            params={"filter": f"name='{name}'"}).json()["model_versions"]
        assert [v["status"] for v in versions if v["version"] == ready] == ["READY"]
        for version in (v for v in versions if v["status"] == "READY"):
            listing = http.get(f"/api/modelyard/v1/uc/models/{name}/versions/"
                               f"{version['version']}/files").json()
            assert listing["files"]
            for file in listing["files"]:
                body = http.get(f"/api/modelyard/v1/uc/models/{name}/versions/"
                                f"{version['version']}/files/{file['path']}").content
                assert len(body) == file["size"]
                assert hashlib.sha256(body).hexdigest() == file["sha256"]
    finally:
        restarted.stop()


def _files_under(backend: Backend, root: str, location: str) -> list[str]:
    if backend.s3 is not None:
        prefix = location.split("/", 3)[3] + "/"
        client = backend.s3.client()
        uploads = client.list_multipart_uploads(  # type: ignore[attr-defined]
            Bucket=backend.bucket, Prefix=prefix).get("Uploads", [])
        return backend.s3.keys(backend.bucket, prefix) + [u["Key"] for u in uploads]
    directory = Path(location.removeprefix("file://"))
    return [str(p) for p in directory.rglob("*")] if directory.exists() else []
