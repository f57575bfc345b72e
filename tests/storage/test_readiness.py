"""`/ready` asks the artifact store too: on both backends it answers 200 when the store does; on
S3 it answers 503 while the bucket is missing or the store is down, and the image's
`ensure-bucket` command (docker/entrypoint.sh, run directly) creates the bucket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.storage.conftest import Backend
from tests.support import http_clients, s3
from tests.support.server import ServerProcess, free_port

ENTRYPOINT = Path(__file__).resolve().parents[2] / "docker" / "entrypoint.sh"


def test_ready_on_every_backend(backend: Backend, storage_server: ServerProcess) -> None:
    answer = http_clients.get(storage_server.url + "/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"]["storage"] == "ok"


def _until(server: ServerProcess, status: int) -> dict[str, str]:
    deadline = time.monotonic() + 20
    while True:
        answer = http_clients.get(server.url + "/ready", timeout=30)
        if answer.status_code == status or time.monotonic() > deadline:
            assert answer.status_code == status, answer.text
            checks: dict[str, str] = answer.json()["checks"]
            return checks
        time.sleep(0.1)


def _ensure_bucket(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(ENTRYPOINT), "ensure-bucket"], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                               **env})


def test_not_ready_until_the_bucket_exists(seaweedfs: s3.S3Process, tmp_path: Path) -> None:
    bucket = f"modelyard-ready-{uuid.uuid4().hex[:8]}"
    root = f"s3://{bucket}/artifacts"
    server = ServerProcess(tmp_path / "data", extra_args=["--storage-root", root],
                           env=seaweedfs.env).start()
    try:
        assert _until(server, 503)["storage"] == "unreachable (ClientError)"
        created = _ensure_bucket({**seaweedfs.env, "MODELYARD_STORAGE_ROOT": root})
        assert created.returncode == 0, created.stderr
        assert f"created {bucket}" in created.stdout
        assert _until(server, 200)["storage"] == "ok"
        again = _ensure_bucket({**seaweedfs.env, "MODELYARD_STORAGE_ROOT": root})
        assert again.returncode == 0 and f"{bucket} exists" in again.stdout
    finally:
        server.stop()


def test_not_ready_while_the_store_does_not_answer(seaweedfs: s3.S3Process,
                                                   tmp_path: Path) -> None:
    nowhere = {**seaweedfs.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    server = ServerProcess(tmp_path / "data", extra_args=[
        "--storage-root", "s3://anything/artifacts"], env=nowhere).start()
    try:
        checks = _until(server, 503)
        # The S3 client reports a store it cannot reach as an outage (a 503 for API callers).
        assert checks["storage"] == "unreachable (Unavailable)"
        assert checks["database"] == "ok"
    finally:
        server.stop()


def test_ensure_bucket_wants_an_s3_root() -> None:
    done = _ensure_bucket({"MODELYARD_STORAGE_ROOT": "/data/artifacts"})
    assert done.returncode == 2
    assert "not an s3:// URI" in done.stderr


