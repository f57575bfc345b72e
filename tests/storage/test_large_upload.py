"""A large model through Modelyard's own upload URLs: streamed to the backend, never whole in
memory (the server's RSS, sampled from /proc during upload, finalize and download, stays under
200 MiB), with its digest verified on download. Runs on both backends.

1 GiB on SQLite, where a server that held even a quarter of the file would be past the bound;
256 MiB on PostgreSQL (the bytes never touch the database: that run checks the same path with
the other engine's records, and a file past the bound on its own), which saves ~70 s a run."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.storage.conftest import Backend
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import create_pending_version, finalize, fs_prefix, model_dir

SIZES = {"sqlite": 1024 * 1024 * 1024, "postgres": 256 * 1024 * 1024}
BLOCK = 1024 * 1024
RSS_LIMIT_MIB = 200


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[float] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            self.samples.append(_rss_mib(self.pid))


def _content(size: int, digest: hashlib._Hash) -> Iterator[bytes]:
    """`size` incompressible bytes, produced (and hashed) as they are sent."""
    seed = os.urandom(BLOCK)
    for index in range(size // BLOCK):
        block = hashlib.sha256(index.to_bytes(8, "big")).digest() + seed[32:]
        digest.update(block)
        yield block


@pytest.mark.timeout(900)
def test_large_upload_stays_small_and_verifies(
        backend: Backend, engine: str, storage_server: ServerProcess,
        storage_http: httpx.Client, tmp_path: Path) -> None:
    size = SIZES[engine]
    name = f"main.default.large_{backend.name}_{os.getpid()}_{int(time.time())}"
    version = create_pending_version(storage_http, name)
    prefix = fs_prefix(name, version)
    model = model_dir(tmp_path, 1)
    for file in (p for p in model.rglob("*") if p.is_file()):
        url = storage_http.post("/api/2.0/fs/create-upload-url", json={
            "path": f"{prefix}/{file.relative_to(model).as_posix()}"}).json()["url"]
        assert http_clients.put(url, content=file.read_bytes()).status_code == 200

    assert storage_server.process is not None
    sampler = RssSampler(storage_server.process.pid)
    sampler.start()
    sent = hashlib.sha256()
    started = time.monotonic()
    url = storage_http.post("/api/2.0/fs/create-upload-url", json={
        "path": f"{prefix}/data/weights.bin"}).json()["url"]
    put = http_clients.put(url, content=_content(size, sent), timeout=600)
    upload_seconds = time.monotonic() - started
    assert put.status_code == 200, put.text

    answer = finalize(storage_http, name, version)
    assert answer.status_code == 200, answer.text
    listing = storage_http.get(
        f"/api/modelyard/v1/uc/models/{name}/versions/{version}/files").json()
    recorded = {f["path"]: f for f in listing["files"]}["data/weights.bin"]
    assert recorded["size"] == size and recorded["sha256"] == sent.hexdigest()

    url = storage_http.post("/api/2.0/fs/create-download-url", json={
        "path": f"{prefix}/data/weights.bin"}).json()["url"]
    received, got = hashlib.sha256(), 0
    with http_clients.stream("GET", url, timeout=600) as response:
        assert response.status_code == 200
        assert response.headers["x-modelyard-sha256"] == recorded["sha256"]
        for chunk in response.iter_bytes(BLOCK):
            received.update(chunk)
            got += len(chunk)
    sampler.stopped.set()
    sampler.join()
    assert got == size and received.hexdigest() == sent.hexdigest()

    peak = max(sampler.samples)
    print(f"\n[{backend.name}] {size >> 20} MiB upload {upload_seconds:.1f} s "
          f"({size / upload_seconds / 2**20:.0f} MiB/s); server RSS peak {peak:.0f} MiB "
          f"over {len(sampler.samples)} samples")
    assert peak < RSS_LIMIT_MIB

    # Leave the disk as we found it.
    assert storage_http.request("DELETE", "/api/2.0/mlflow/unity-catalog/registered-models/"
                                "delete", json={"name": name}).status_code == 200
