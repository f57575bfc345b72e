"""Both storage backends behind one fixture: the local directory and S3 (SeaweedFS).

`backend` is parametrized, so every test taking it (or `storage_server`) runs on both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_url_for
from tests.support import http_clients, s3
from tests.support.server import ServerProcess

BACKENDS = ["local", "s3"]


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3.S3Process]:
    process = s3.seaweedfs(tmp_path_factory.mktemp("seaweedfs")).start()
    try:
        yield process
    finally:
        process.stop()


@dataclass
class Backend:
    name: str
    root: str  # what `--storage-root` gets
    env: dict[str, str] = field(default_factory=dict)
    s3: s3.S3Process | None = None
    bucket: str = ""
    prefix: str = ""
    local_dir: Path | None = None

    def leftover_files(self) -> list[str]:
        """Every file the backend holds under the root: what a delete must leave behind."""
        if self.s3 is not None:
            return self.s3.keys(self.bucket, self.prefix + "/")
        assert self.local_dir is not None
        return sorted(str(p.relative_to(self.local_dir)) for p in self.local_dir.rglob("*")
                      if p.is_file())


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if request.param == "local":
        directory = tmp_path_factory.mktemp("local-store")
        yield Backend("local", str(directory), local_dir=directory)
        return
    weed: s3.S3Process = request.getfixturevalue("seaweedfs")
    bucket = weed.create_bucket(f"modelyard-{uuid.uuid4().hex[:8]}")
    prefix = "governed"
    yield Backend("s3", f"s3://{bucket}/{prefix}", env=weed.env, s3=weed, bucket=bucket,
                  prefix=prefix)


@pytest.fixture()
def backend_env(backend: Backend) -> Iterator[Backend]:
    """The backend with its AWS variables set in this process (for ArtifactStore tests)."""
    saved = {k: os.environ.get(k) for k in backend.env}
    os.environ.update(backend.env)
    try:
        yield backend
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def storage_database_url(backend: Backend, engine: str,
                         pg_available: bool) -> Iterator[str | None]:
    """A database of its own: servers sharing one database share its garbage queue and
    pending sweep, which only makes sense when they also share one storage backend."""
    yield from database_url_for(engine, pg_available)


@pytest.fixture(scope="session")
def storage_server(backend: Backend, engine: str, storage_database_url: str | None,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose governed files live in `backend`, on each database engine."""
    database_url = storage_database_url
    process = ServerProcess(tmp_path_factory.mktemp(f"server-{backend.name}-{engine}"),
                            database_url,
                            extra_args=["--storage-root", backend.root], env=backend.env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture()
def storage_http(storage_server: ServerProcess) -> Iterator[httpx.Client]:
    with http_clients.Client(base_url=storage_server.url, timeout=120) as client:
        yield client


@pytest.fixture()
def databricks_uc_on_backend(storage_server: ServerProcess, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The mlflow client set up for `databricks-uc` against `storage_server`."""
    import mlflow

    monkeypatch.setenv("DATABRICKS_HOST", storage_server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-modelyard-test")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=mlflow.create_experiment(
        "storage", artifact_location=str(tmp_path / "files")))
    mlflow.set_registry_uri("databricks-uc")
    yield uri
    mlflow.set_registry_uri("")


@pytest.fixture()
def uc_model_name(request: pytest.FixtureRequest) -> str:
    return f"main.default.{request.node.originalname[:30]}_{uuid.uuid4().hex[:8]}"
