"""Backup and restore with the governed files in S3 (SeaweedFS), on both engines: the files
are read from the bucket into the backup and written back under another prefix."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.storage.conftest import Backend
from tests.support import http_clients, postgres
from tests.support.server import ServerProcess
from tests.support.uc_models import create_pending_version, finalize, upload_dir

MODELYARD = str(Path(sys.executable).with_name("modelyard"))
MLMODEL = """flavors: {}
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: '[{"type": "double", "name": "x", "required": true}]'
"""


def test_backup_and_restore_with_files_in_s3(backend: Backend, engine: str, tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    if backend.s3 is None:
        pytest.skip("the local backend is covered by tests/services/test_backup.py")
    server: ServerProcess = request.getfixturevalue("storage_server")
    files = tmp_path / "model"
    files.mkdir()
    (files / "MLmodel").write_text(MLMODEL)
    (files / "data" / "weights.bin").parent.mkdir()
    (files / "data" / "weights.bin").write_bytes(os.urandom(300_000))
    name = f"main.default.s3backup_{uuid.uuid4().hex[:8]}"
    with http_clients.Client(base_url=server.url, timeout=60) as http:
        version = create_pending_version(http, name)
        upload_dir(http, name, version, files)
        assert finalize(http, name, version).status_code == 200

    env = {**os.environ, **backend.env}
    where = ["--data-dir", str(server.data_dir), "--storage-root", backend.root]
    if server.database_url:
        where += ["--database-url", server.database_url]
    backup = tmp_path / "backup"
    made = subprocess.run([MODELYARD, "backup", *where, "--to", str(backup)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    blobs = {p.name for p in (backup / "files").rglob("*") if p.is_file()}
    for path in ("MLmodel", "data/weights.bin"):
        assert hashlib.sha256((files / path).read_bytes()).hexdigest() in blobs

    new_prefix = f"restored-{uuid.uuid4().hex[:8]}"
    new_root = f"s3://{backend.bucket}/{new_prefix}"
    target: list[str] = []
    database = None
    if engine == "postgres":
        database, url = postgres.create_database()
        target = ["--database-url", url]
    try:
        restored = subprocess.run(
            [MODELYARD, "restore", str(backup), "--data-dir", str(tmp_path / "new"),
             "--storage-root", new_root, *target],
            env=env, capture_output=True, text=True, timeout=300)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "every SHA-256 checked" in restored.stdout
    finally:
        if database:
            postgres.drop_database(database)
    assert backend.s3 is not None
    keys = backend.s3.keys(backend.bucket, new_prefix + "/")
    assert any(k.endswith("/data/weights.bin") for k in keys), keys
