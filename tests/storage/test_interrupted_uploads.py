"""Stopping the server and cutting uploads off leave nothing behind, on both backends and both
engines: an upload in flight at SIGTERM finishes within the graceful period; one cut off after
it leaves no temporary file; and what a SIGKILL leaves (a temporary file, an S3 multipart
upload) is removed by the upload sweeper, whatever became of the version."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import database_url_for
from tests.storage.conftest import Backend
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL, create_pending_version, fs_prefix

MIB = 1024 * 1024
UC = "/api/2.1/unity-catalog"
#: uvicorn stops, then re-raises the SIGTERM it caught: the exit status says so.
STOPPED = (0, -signal.SIGTERM)


@dataclass
class Store:
    """A storage root of this test's own (a directory, or a prefix in the session's bucket)."""

    backend: Backend
    root: str
    local_dir: Path | None = None
    prefix: str = ""

    def leftovers(self) -> list[str]:
        """Unfinished uploads: temporary files, or S3 multipart uploads."""
        if self.local_dir is not None:
            return sorted(p.name for p in self.local_dir.rglob(".modelyard-upload-*"))
        assert self.backend.s3 is not None
        client: Any = self.backend.s3.client()
        answer = client.list_multipart_uploads(Bucket=self.backend.bucket,
                                               Prefix=self.prefix + "/")
        return sorted(u["Key"] for u in answer.get("Uploads", []))

    def files(self) -> list[str]:
        if self.local_dir is not None:
            return sorted(p.name for p in self.local_dir.rglob("*")
                          if p.is_file() and not p.name.startswith(".modelyard-upload-"))
        assert self.backend.s3 is not None
        return [key.rsplit("/", 1)[-1]
                for key in self.backend.s3.keys(self.backend.bucket, self.prefix + "/")]


@pytest.fixture()
def store(backend: Backend, tmp_path: Path) -> Store:
    if backend.s3 is None:
        return Store(backend, str(tmp_path / "store"), local_dir=tmp_path / "store")
    prefix = f"interrupted-{uuid.uuid4().hex[:8]}"
    return Store(backend, f"s3://{backend.bucket}/{prefix}", prefix=prefix)


@pytest.fixture()
def database_url(engine: str, pg_available: bool) -> Iterator[str | None]:
    yield from database_url_for(engine, pg_available)


def _server(store: Store, database_url: str | None, data_dir: Path,
            *flags: str) -> ServerProcess:
    return ServerProcess(data_dir, database_url, env=store.backend.env,
                         extra_args=["--storage-root", store.root, *flags])


@dataclass
class Upload:
    """A PUT in a thread that sends `before` MiB, then waits for `go` to send `after` more."""

    url: str
    before: int = 12
    after: int = 4
    go: threading.Event = field(default_factory=threading.Event)
    result: list[Any] = field(default_factory=list)

    def _body(self) -> Iterator[bytes]:
        for _ in range(self.before):
            yield b"m" * MIB
        if not self.go.wait(60):
            return
        for _ in range(self.after):
            yield b"m" * MIB

    def start(self) -> Upload:
        def run() -> None:
            try:
                self.result.append(http_clients.put(self.url, content=self._body(), timeout=60))
            except httpx.HTTPError as error:
                self.result.append(error)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def finish(self) -> Any:
        self.go.set()
        self.thread.join(60)
        return self.result[0]


def _upload_url(http: httpx.Client, name: str, version: str, path: str) -> str:
    answer = http.post("/api/2.0/fs/create-upload-url",
                       json={"path": f"{fs_prefix(name, version)}/{path}"})
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["url"]
    return url


def _wait(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _begin(store: Store, server: ServerProcess, name: str) -> tuple[str, Upload]:
    """A pending version with an upload of `big.bin` in flight, stalled after 12 MiB."""
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        version = create_pending_version(http, name)
        upload = Upload(_upload_url(http, name, version, "big.bin")).start()
    _wait(store.leftovers, "the upload to be under way")
    return version, upload


def _signal(server: ServerProcess, number: int) -> None:
    assert server.process is not None
    os.killpg(server.process.pid, number)


def test_sigterm_lets_an_upload_in_flight_finish(store: Store, database_url: str | None,
                                                 tmp_path: Path, uc_model_name: str) -> None:
    server = _server(store, database_url, tmp_path / "data", "--graceful-timeout", "30").start()
    try:
        _, upload = _begin(store, server, uc_model_name)
        _signal(server, signal.SIGTERM)
        time.sleep(0.5)  # the server is shutting down while the body still arrives
        answer = upload.finish()
        assert isinstance(answer, httpx.Response) and answer.status_code == 200, answer
        assert server.process is not None and server.process.wait(30) in STOPPED
        assert store.leftovers() == [] and store.files() == ["big.bin"]
    finally:
        server.stop()


def test_sigterm_after_the_graceful_period_leaves_no_temporary_file(
        store: Store, database_url: str | None, tmp_path: Path, uc_model_name: str) -> None:
    server = _server(store, database_url, tmp_path / "data", "--graceful-timeout", "1").start()
    try:
        _, upload = _begin(store, server, uc_model_name)
        started = time.monotonic()
        _signal(server, signal.SIGTERM)
        assert server.process is not None and server.process.wait(30) in STOPPED
        assert time.monotonic() - started < 10  # the stalled upload did not hold the stop
        upload.finish()
        # Cut off in the process, and cleaned up by it: no temporary file, no multipart upload.
        assert store.files() == [] and store.leftovers() == []
    finally:
        server.stop()


def test_the_sweeper_removes_what_a_kill_left(store: Store, database_url: str | None,
                                              tmp_path: Path, uc_model_name: str) -> None:
    server = _server(store, database_url, tmp_path / "data").start()
    try:
        version, upload = _begin(store, server, uc_model_name)
        with http_clients.Client(base_url=server.url, timeout=30) as http:
            small = http_clients.put(_upload_url(http, uc_model_name, version, "MLmodel"),
                                     content=SIGNED_MLMODEL.encode())
            assert small.status_code == 200, small.text
        _signal(server, signal.SIGKILL)
        server.process.wait(10)  # type: ignore[union-attr]
        upload.finish()
    finally:
        server.stop()
    left = store.leftovers()
    assert left, "a killed upload leaves its staging behind"

    # Restarted: the version becomes READY with its one complete file, and the sweeper
    # removes the staging of the killed upload all the same.
    sweeping = _server(store, database_url, tmp_path / "data", "--upload-orphan-age", "1",
                       "--upload-sweep-interval", "0.2").start()
    try:
        ready = http_clients.patch(f"{sweeping.url}{UC}/models/{uc_model_name}/versions/{version}"
                                   "/finalize", timeout=30)
        assert ready.status_code == 200 and ready.json()["status"] == "READY", ready.text
        _wait(lambda: store.leftovers() == [], "the sweeper", timeout=20)
        assert store.files() == ["MLmodel"]
    finally:
        sweeping.stop()
