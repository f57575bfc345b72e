"""An upload still in flight when finalize runs must not change the READY version: the late
file is refused with a 4xx and leaves nothing behind. Both backends, both engines.

The race is made deterministic with a request body that sends its first 9 MiB (more than one
S3 multipart part, so parts are already stored), then waits until finalize has answered before
sending the rest.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.storage.conftest import Backend
from tests.storage.test_governed_files import _storage_key
from tests.support import http_clients
from tests.support.uc_models import (
    create_pending_version,
    finalize,
    fs_prefix,
    model_dir,
    upload_dir,
)

FIRST = b"\x5a" * (9 * 1024 * 1024)


def _files(http: httpx.Client, name: str, version: str) -> dict[str, str]:
    listing = http.get(f"/api/modelyard/v1/uc/models/{name}/versions/{version}/files").json()
    return {f["path"]: f["sha256"] for f in listing["files"]}


@pytest.mark.parametrize("target", ["python_model.pkl", "late/extra.bin"])
def test_upload_in_flight_during_finalize_is_refused(
        backend: Backend, storage_http: httpx.Client, uc_model_name: str, tmp_path: Path,
        target: str) -> None:
    """`python_model.pkl` overwrites a file whose digest finalize records; `late/extra.bin`
    would add a file to the READY version."""
    source = model_dir(tmp_path, 1)
    version = create_pending_version(storage_http, uc_model_name)
    upload_dir(storage_http, uc_model_name, version, source)
    url = storage_http.post("/api/2.0/fs/create-upload-url", json={
        "path": f"{fs_prefix(uc_model_name, version)}/{target}"}).json()["url"]

    sent, release = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield FIRST
        sent.set()
        assert release.wait(60)
        yield b"tail"

    answers: list[httpx.Response] = []
    uploader = threading.Thread(target=lambda: answers.append(
        http_clients.put(url, content=slow_body(), timeout=120)), daemon=True)
    uploader.start()
    assert sent.wait(60)

    ready = finalize(storage_http, uc_model_name, version)
    assert ready.status_code == 200, ready.text
    assert ready.json()["model_version"]["status"] == "READY"
    recorded = _files(storage_http, uc_model_name, version)
    release.set()
    uploader.join(60)

    [late] = answers
    assert late.status_code == 400, late.text
    assert late.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "READY" in late.json()["message"]

    # The READY version is exactly what finalize recorded, byte for byte.
    expected = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert sorted(recorded) == expected
    assert _files(storage_http, uc_model_name, version) == recorded
    for path, sha256 in recorded.items():
        download = storage_http.post("/api/2.0/fs/create-download-url", json={
            "path": f"{fs_prefix(uc_model_name, version)}/{path}"}).json()["url"]
        body = http_clients.get(download, timeout=60).content
        assert hashlib.sha256(body).hexdigest() == sha256
        assert body == (source / path).read_bytes()

    # Nothing of the refused upload remains: no object, temporary file or multipart upload.
    location = ready.json()["model_version"]["storage_location"]
    key = _storage_key(backend, location)
    stored = sorted(n[len(key) + 1:] for n in backend.leftover_files()
                    if n.startswith(key + "/"))
    assert stored == expected
    if backend.s3 is not None:
        uploads = backend.s3.client().list_multipart_uploads(  # type: ignore[attr-defined]
            Bucket=backend.bucket, Prefix=key + "/").get("Uploads", [])
        assert uploads == []
    else:
        assert backend.local_dir is not None
        directory = Path(location.removeprefix("file://"))
        assert not (directory / "late").exists()
