"""`modelyard backup` of a running server while it serves writes, `restore` into a new place,
and `backup --verify`, on both engines, checked over HTTP against a server on the restored
data."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_url_for
from tests.support import http_clients, postgres
from tests.support.server import ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL

MODELYARD = str(Path(sys.executable).with_name("modelyard"))
API = "/api/2.0/mlflow"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # A usual umask (files 0644): what the commands write must be private nonetheless.
    return subprocess.run([MODELYARD, *args], capture_output=True, text=True, timeout=300,
                          umask=0o022)


def _open_to_others(root: Path) -> list[str]:
    """What under `root` (itself included) others may read: a backup and a data directory hold
    every secret of the server."""
    return [f"{p} ({stat.S_IMODE(p.stat().st_mode):o})" for p in [root, *root.rglob("*")]
            if stat.S_IMODE(p.stat().st_mode) & 0o077]



@pytest.fixture(scope="module")
def server(engine: str, pg_available: bool,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own: the session's shared server holds files that other tests damage on
    purpose, which a backup rightly refuses to take."""
    for url in database_url_for(engine, pg_available):
        process = ServerProcess(tmp_path_factory.mktemp(f"backup-{engine}"), url).start()
        try:
            yield process
        finally:
            process.stop()


def _where(server: ServerProcess) -> list[str]:
    args = ["--data-dir", str(server.data_dir)]
    return args + (["--database-url", server.database_url] if server.database_url else [])


class Writer(threading.Thread):
    """Creates versions of one model, one after another, until stopped."""

    def __init__(self, url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.url, self.name = url, name
        self.created = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with http_clients.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                response = http.post(f"{API}/model-versions/create",
                                     json={"name": self.name, "source": f"s3://b/{self.created}"})
                assert response.status_code == 200, response.text
                self.created += 1


@pytest.fixture()
def populated(server: ServerProcess, http: httpx.Client, tmp_path: Path) -> dict[str, str]:
    """A UC version with files, workspace models with tags and aliases, a user and a grant,
    and a key file in the data directory."""
    tag = uuid.uuid4().hex[:8]
    schema = f"bk_{tag}"
    assert http.post("/api/2.1/unity-catalog/schemas",
                     json={"catalog_name": "main", "name": schema}).status_code == 200
    files = tmp_path / "model"
    files.mkdir()
    (files / "MLmodel").write_text(SIGNED_MLMODEL)
    (files / "weights.bin").write_bytes(uuid.uuid4().bytes * 50_000)
    uc_model = f"main.{schema}.detector"
    for args in (["models", "create", uc_model], ["versions", "create", uc_model, str(files)]):
        result = _run(*args, "--url", server.url)
        assert result.returncode == 0, result.stderr
    name = f"backup-{tag}"
    assert http.post(f"{API}/registered-models/create",
                     json={"name": name, "tags": [{"key": "team", "value": "risk"}]}
                     ).status_code == 200
    for _ in range(2):
        http.post(f"{API}/model-versions/create", json={"name": name, "source": "s3://b/m"})
    http.post(f"{API}/registered-models/alias", json={"name": name, "alias": "champion",
                                                      "version": "2"})
    user = f"user-{tag}"
    assert http.post("/api/2.0/preview/scim/v2/Users",
                     json={"userName": user}).status_code in (200, 201)
    assert http.patch(f"/api/2.1/unity-catalog/permissions/schema/main.{schema}", json={
        "changes": [{"principal": user, "add": ["USE_SCHEMA"]}]}).status_code == 200
    key = server.data_dir / f"test-{tag}.key"
    key.write_bytes(uuid.uuid4().bytes)
    key.chmod(0o600)
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in files.iterdir()}
    return {"uc_model": uc_model, "name": name, "user": user, "schema": schema,
            "key": key.name, **{f"sha:{k}": v for k, v in digests.items()}}


@pytest.fixture()
def restore_target(engine: str, pg_available: bool, tmp_path: Path
                   ) -> Iterator[tuple[Path, str | None]]:
    if engine == "sqlite":
        yield tmp_path / "restored", None
        return
    name, url = postgres.create_database()
    try:
        yield tmp_path / "restored", url
    finally:
        postgres.drop_database(name)


def test_backup_during_writes_then_restore_equals_it(
        engine: str, server: ServerProcess, http: httpx.Client, populated: dict[str, str],
        restore_target: tuple[Path, str | None], tmp_path: Path) -> None:
    busy = f"busy-{uuid.uuid4().hex[:8]}"
    http.post(f"{API}/registered-models/create", json={"name": busy})
    writer = Writer(server.url, busy)
    writer.start()
    try:
        while writer.created < 5:
            threading.Event().wait(0.02)
        backup = tmp_path / "backup"
        made = _run("backup", *_where(server), "--to", str(backup))
        assert made.returncode == 0, made.stderr
        during = writer.created
    finally:
        writer.stop.set()
        writer.join(30)
    assert during > 5 or writer.created > 5
    assert "Backed up" in made.stdout
    assert _open_to_others(backup) == []
    manifest = json.loads((backup / "manifest.json").read_text())
    assert populated["key"] in [f["name"] for f in manifest["data_dir_files"]]
    # The SQLite write lock (held while the server writes) is not one of the data directory's
    # files to keep.
    lock = "modelyard.db-write.lock"
    if engine == "sqlite":
        assert (server.data_dir / lock).is_file()
    assert lock not in [f["name"] for f in manifest["data_dir_files"]]
    assert not (backup / "data-dir" / lock).exists()
    assert manifest["tables"]["model_version_files"]["rows"] >= 2
    verified = _run("backup", "--verify", str(backup))
    assert verified.returncode == 0, verified.stdout + verified.stderr

    new_dir, new_url = restore_target
    restored = _run("restore", str(backup), "--data-dir", str(new_dir),
                    *(["--database-url", new_url] if new_url else []))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "every SHA-256 checked; audit chain verified" in restored.stdout
    assert (new_dir / populated["key"]).stat().st_mode & 0o777 == 0o600
    # The directory, the database and the artifacts: private before any `serve` tightens.
    assert (new_dir / "artifacts").is_dir()
    assert _open_to_others(new_dir) == []

    audit = _run("audit", "verify", "--data-dir", str(new_dir),
                 *(["--database-url", new_url] if new_url else []))
    assert audit.returncode == 0, audit.stdout

    again = ServerProcess(new_dir, new_url).start()
    try:
        with http_clients.Client(base_url=again.url, timeout=30) as copy:
            _compare(http, copy, populated, busy)
            # Writes made while the backup ran: a consistent prefix, numbered 1..k.
            versions = copy.get(f"{API}/model-versions/search",
                                params={"filter": f"name = '{busy}'"}).json()["model_versions"]
            numbers = sorted(int(v["version"]) for v in versions)
            assert numbers == list(range(1, len(numbers) + 1))
            assert 5 <= len(numbers) <= writer.created
            # The restored server goes on numbering after them, and its files are its own.
            created = copy.post(f"{API}/model-versions/create",
                                json={"name": busy, "source": "s3://b/new"}).json()
            assert created["model_version"]["version"] == str(len(numbers) + 1)
            listing = copy.get(f"/api/modelyard/v1/uc/models/{populated['uc_model']}/versions/1"
                               "/files").json()
            for file in listing["files"]:
                body = copy.get(f"/api/modelyard/v1/uc/models/{populated['uc_model']}"
                                f"/versions/1/files/{file['path']}").content
                assert hashlib.sha256(body).hexdigest() == populated[f"sha:{file['path']}"]
            version = copy.get("/api/2.1/unity-catalog/models/"
                               f"{populated['uc_model']}/versions/1").json()
            assert version["storage_location"].startswith((new_dir / "artifacts")
                                                          .resolve().as_uri())
    finally:
        again.stop()


def _compare(original: httpx.Client, copy: httpx.Client, populated: dict[str, str],
             busy: str) -> None:
    """What the brief names, read from both servers: models, versions, aliases, tags, grants,
    users, the audit trail."""
    name, uc_model = populated["name"], populated["uc_model"]
    for path, params in [
        (f"{API}/registered-models/get", {"name": name}),
        (f"{API}/model-versions/get", {"name": name, "version": "2"}),
        (f"/api/2.1/unity-catalog/models/{uc_model}", {}),
        (f"/api/2.1/unity-catalog/models/{uc_model}/versions/1", {}),
        (f"/api/2.1/unity-catalog/permissions/schema/main.{populated['schema']}", {}),
        ("/api/2.0/preview/scim/v2/Users", {"filter": f'userName eq "{populated["user"]}"'}),
    ]:
        before, after = original.get(path, params=params), copy.get(path, params=params)
        assert before.status_code == 200, before.text
        assert _stable(before.json()) == _stable(after.json()), path
    mine = {"object_name": name}
    assert original.get("/api/modelyard/v1/audit", params=mine).json()["events"] == \
        copy.get("/api/modelyard/v1/audit", params=mine).json()["events"]


def _stable(body: object) -> object:
    """A response without what legitimately differs between two servers (locations moved to
    the new storage root)."""
    if isinstance(body, dict):
        return {k: _stable(v) for k, v in body.items() if k != "storage_location"}
    if isinstance(body, list):
        return [_stable(v) for v in body]
    return body


def test_verify_catches_a_damaged_backup(server: ServerProcess, populated: dict[str, str],
                                         tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    assert _run("backup", *_where(server), "--to", str(backup)).returncode == 0
    intact = tmp_path / "intact"
    shutil.copytree(backup, intact)

    blob = next(p for p in (backup / "files").rglob("*")
                if p.is_file() and p.name == populated["sha:weights.bin"])
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    checked = _run("backup", "--verify", str(backup))
    assert checked.returncode == 1
    assert "weights.bin: its copy is damaged" in checked.stdout
    refused = _run("restore", str(backup), "--data-dir", str(tmp_path / "nowhere"))
    assert refused.returncode == 1 and "damaged, nothing was restored" in refused.stderr

    import sqlite3

    with sqlite3.connect(intact / "modelyard.db") as conn:
        conn.execute("UPDATE registered_models SET description = 'edited' WHERE name = ?",
                     (populated["name"],))
    checked = _run("backup", "--verify", str(intact))
    assert checked.returncode == 1
    assert "modelyard.db does not match" in checked.stdout
    assert "table registered_models" in checked.stdout
