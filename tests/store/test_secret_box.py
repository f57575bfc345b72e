"""Secrets at rest, over real servers on both engines: the files of a first start are the
owner's alone, webhook secrets and the URL-signing key are encrypted in the database (and still
sign deliveries), existing plaintext secrets are encrypted by the upgrade, and a server with
another key refuses to start."""

from __future__ import annotations

import hashlib
import hmac
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import select, text

from modelyard.store import migrate
from modelyard.store.database import Database, sqlite_url_for
from modelyard.store.secret_box import SecretBox
from modelyard.store.tables import registry_webhooks, server_secrets
from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess

UC = "/api/2.1/unity-catalog"
WEBHOOKS = "/api/2.0/mlflow/registry-webhooks"
#: The revisions 0008 builds on: a database there holds secrets in plain text.
BEFORE_SEALING = ("0002_signed_urls", "0006_webhook_outbox")


@pytest.fixture()
def database_url(engine: str, pg_available: bool) -> Iterator[str | None]:
    """A fresh database of the engine for this test alone."""
    yield from database_url_for(engine, pg_available)


def _server(data_dir: Path, database_url: str | None, log_dir: Path,
            key: str | None = None, extra: tuple[str, ...] = ()) -> ServerProcess:
    """A server on `data_dir` (which need not exist) with its log in `log_dir`; the key file in
    the data dir unless `key` is given."""
    process = ServerProcess(log_dir, database_url,
                            extra_args=["--data-dir", str(data_dir), *extra])
    process.env.pop("MODELYARD_SECRET_KEY", None)
    if key is not None:
        process.env["MODELYARD_SECRET_KEY"] = key
    return process


def _database(database_url: str | None, data_dir: Path) -> Database:
    return Database(database_url or sqlite_url_for(data_dir))


def _signed(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _stored(database: Database) -> tuple[list[tuple[str | None, str | None]], list[str]]:
    with database.engine.connect() as conn:
        hooks = [(r.secret, r.authorization) for r in conn.execute(
            select(registry_webhooks.c.secret, registry_webhooks.c.authorization))]
        values = list(conn.execute(select(server_secrets.c.value)).scalars())
    return hooks, values


def _upload(http: httpx.Client, model: str) -> None:
    """A UC version with one file, received by the server through a signed URL."""
    http.post(f"{UC}/models", json={"catalog_name": "main", "schema_name": "default",
                                    "name": model}).raise_for_status()
    http.post(f"{UC}/models/versions", json={
        "catalog_name": "main", "schema_name": "default", "model_name": model,
        "source": "x"}).raise_for_status()
    url = http.post("/api/2.0/fs/create-upload-url", json={
        "path": f"/Models/main/default/{model}/1/sub/weights.bin"})
    assert url.status_code == 200, url.text
    put = http_clients.put(url.json()["url"], content=b"w" * 1000, timeout=30)
    assert put.status_code == 200, put.text


def test_first_start_keeps_files_private_and_secrets_sealed(
        database_url: str | None, tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"  # does not exist yet
    server = _server(data_dir, database_url, tmp_path, extra=("--auth",)).start()
    secret, authorization = f"s3cr3t-{uuid.uuid4().hex}", f"Bearer tok-{uuid.uuid4().hex}"
    try:
        token = (data_dir / "admin-token").read_text().strip()
        with http_clients.Client(base_url=server.url, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as http, \
                Receiver() as receiver:
            _upload(http, f"m_{uuid.uuid4().hex[:8]}")
            hook = http.post(f"{WEBHOOKS}/create", json={
                "events": ["REGISTERED_MODEL_CREATED"], "http_url_spec": {
                    "url": receiver.url, "secret": secret, "authorization": authorization}})
            assert hook.status_code == 200, hook.text
            tested = http.post(f"{WEBHOOKS}/test", json={"id": hook.json()["webhook"]["id"]})
            assert tested.status_code == 200, tested.text
            delivered = receiver.requests[-1]
            # Opened again for the delivery: signed with the secret, the header sent as given.
            assert delivered.headers["X-Databricks-Signature"] == _signed(delivered.body, secret)
            assert delivered.headers["Authorization"] == authorization

        # Every directory 0700 and every file 0600, the database's -wal and -shm included.
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        paths = [data_dir, *data_dir.rglob("*")]
        names = {p.name for p in paths}
        assert {"admin-token", "secret-key", "weights.bin"} <= names
        if database_url is None:
            assert {"modelyard.db", "modelyard.db-wal", "modelyard.db-shm"} <= names
        for path in paths:
            mode = stat.S_IMODE(path.lstat().st_mode)
            assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))

        database = _database(database_url, data_dir)
        try:
            hooks, values = _stored(database)
        finally:
            database.dispose()
        assert hooks and all(v and v.startswith("enc1:") for hook in hooks for v in hook)
        assert values and all(v.startswith("enc1:") for v in values)  # the URL-signing key
        if database_url is None:  # not in any page of the database files either
            raw = b"".join(p.read_bytes() for p in data_dir.glob("modelyard.db*"))
            assert secret.encode() not in raw and authorization.encode() not in raw
        assert secret not in str(hooks) and authorization not in str(hooks)
    finally:
        server.stop()

    # Another key cannot open them: the server says so and does not start.
    wrong = _server(data_dir, database_url, tmp_path, key="A" * 43 + "=")
    refused = subprocess.run(wrong.args, env=wrong.env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "encrypted with another key" in refused.stderr


@pytest.mark.parametrize("upgraded_by", ["serve", "a restore first"])
def test_plaintext_secrets_are_sealed_by_the_upgrade(database_url: str | None, tmp_path: Path,
                                                     upgraded_by: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = _database(database_url, data_dir)
    secret, authorization = f"old-{uuid.uuid4().hex}", f"Bearer old-{uuid.uuid4().hex}"
    signing_key = "ab" * 32
    try:
        # A database as the version before wrote it: secrets in plain text.
        with database.engine.connect().execution_options(modelyard_write=True) as conn, \
                conn.begin():
            config = migrate._alembic_config()
            config.attributes["connection"] = conn
            for revision in BEFORE_SEALING:
                command.upgrade(config, revision)
            conn.execute(text(
                "INSERT INTO server_secrets (name, value, created_at) "
                "VALUES ('file-url-signing', :value, 0)"), {"value": signing_key})
        with Receiver() as receiver:
            with database.engine.begin() as conn:
                conn.execute(registry_webhooks.insert().values(
                    id=uuid.uuid4().hex, model_name=None, events='["REGISTERED_MODEL_CREATED"]',
                    status="ACTIVE", description="", url=receiver.url, secret=secret,
                    authorization=authorization, enable_ssl_verification=True, created_at=0,
                    updated_at=0))
            if upgraded_by != "serve":  # brought up to date without the key, as a restore does
                assert migrate.upgrade(database) == "migrated"
                assert _stored(database) == ([(secret, authorization)], [signing_key])

            server = _server(data_dir, database_url, tmp_path).start()  # upgrades it
            try:
                hooks, values = _stored(database)
                assert all(v and v.startswith("enc1:") for v in hooks[0])
                assert values[0].startswith("enc1:")
                box = SecretBox((data_dir / "secret-key").read_bytes().strip())
                assert (box.open(values[0]), box.open(hooks[0][0] or "")) == (
                    signing_key, secret)
                name = f"after-upgrade-{uuid.uuid4().hex[:8]}"
                created = http_clients.post(f"{server.url}/api/2.0/mlflow/registered-models/create",
                                            json={"name": name})
                assert created.status_code == 200, created.text
                delivered = receiver.wait_for(name, 1)
                assert delivered, "the webhook fired with its secret opened"
                assert delivered[0].headers["X-Databricks-Signature"] == _signed(
                    delivered[0].body, secret)
                assert delivered[0].headers["Authorization"] == authorization
            finally:
                server.stop()
    finally:
        database.dispose()
