"""Catalog and schema storage roots: checked only after the privilege check, accepted only under
the operator's `--allowed-storage-roots`, refused alike whatever exists on the server, and
nothing created on disk or in a bucket by the request itself."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError
from sqlalchemy import update

from modelyard.store.database import Database, sqlite_url_for
from modelyard.store.tables import registered_models
from tests.api.identity.conftest import AuthServer
from tests.api.unity_catalog.conftest import UC, files_under, local_path
from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.server import MODELYARD, ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL

NOT_ALLOWED = "is not allowed: catalogs and schemas may keep their files only under"


@pytest.fixture(scope="module")
def place(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the allowed root and places around it (one per engine)."""
    return tmp_path_factory.mktemp(f"roots-{engine}")


@pytest.fixture(scope="module")
def roots_server(engine: str, pg_available: bool, place: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """`--auth`, with `<place>/allowed` as the one allowed local root."""
    database = database_url_for(engine, pg_available)
    url = next(database)
    data_dir = tmp_path_factory.mktemp(f"roots-{engine}")
    process = ServerProcess(data_dir, url, extra_args=[
        "--auth", "--allowed-storage-roots", f"{place / 'allowed'}, s3://elsewhere/x"]).start()
    server = AuthServer(process, url)
    server.admin_token = (data_dir / "admin-token").read_text().strip()
    try:
        yield server
    finally:
        process.stop()
        next(database, None)


@pytest.fixture()
def admin(roots_server: AuthServer) -> Iterator[httpx.Client]:
    with _uc(roots_server, roots_server.admin_token) as client:
        yield client


def _uc(server: AuthServer, token: str) -> httpx.Client:
    return http_clients.Client(base_url=server.url + UC, timeout=30,
                               headers={"Authorization": f"Bearer {token}"})


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_refused_catalog_creation_leaves_no_directory(roots_server: AuthServer,
                                                      place: Path) -> None:
    user = roots_server.new_user()
    targets = (place / "anywhere" / "x", place / "allowed" / "mine")
    with _uc(roots_server, user.token) as uc:
        for target in targets:
            refused = uc.post("/catalogs", json={"name": _name("c"),
                                                 "storage_root": str(target)})
            assert refused.status_code == 403, refused.text
            assert refused.json()["error_code"] == "PERMISSION_DENIED"
            # `main` is invisible without USE CATALOG: it answers as missing.
            schema = uc.post("/schemas", json={"catalog_name": "main", "name": _name("s"),
                                               "storage_root": str(target)})
            assert schema.status_code == 404, schema.text
        with _uc(roots_server, roots_server.admin_token) as admin:
            granted = admin.patch("/permissions/catalog/main", json={"changes": [
                {"principal": user.name, "add": ["USE_CATALOG"]}]})
            assert granted.status_code == 200, granted.text
        for target in targets:
            schema = uc.post("/schemas", json={"catalog_name": "main", "name": _name("s"),
                                               "storage_root": str(target)})
            assert schema.status_code == 403, schema.text
            assert schema.json()["error_code"] == "PERMISSION_DENIED"
    for target in targets:
        assert not target.exists() and not target.parent.exists()


def test_schema_in_a_missing_catalog_creates_nothing(admin: httpx.Client, place: Path) -> None:
    relative = f"rel-{uuid.uuid4().hex[:8]}"
    for root in (relative, str(place / "allowed" / relative)):
        missing = admin.post("/schemas", json={"catalog_name": _name("nope"), "name": "s",
                                               "storage_root": root})
        assert missing.status_code == 404, missing.text
        assert missing.json()["error_code"] == "CATALOG_NOT_FOUND"
    # The server runs in this process's working directory.
    assert not (Path.cwd() / relative).exists()
    assert not (place / "allowed").exists()


def test_disallowed_roots_are_refused_alike(admin: httpx.Client, place: Path) -> None:
    (place / "outside").mkdir(exist_ok=True)
    (place / "a-file").write_text("x")
    (place / "allowed").mkdir(exist_ok=True)
    link = place / "allowed" / "link-out"
    if not link.exists():
        link.symlink_to(place / "outside")
    candidates = [
        str(place / "outside"),                      # exists, writable, not allowed
        str(place / "a-file" / "sub"),               # would be "Not a directory"
        str(place / "missing" / "deep"),             # would be "No such file or directory"
        "/proc/modelyard", "/", "file:///etc",
        str(place / "allowed-sibling"),              # a prefix of the name is not a parent
        f"{place}/allowed/../outside",
        str(link / "x"),                             # a symlink leading out
        f"{place}/allowed/__unitystorage/catalogs",  # another object's files
        "relative/path", "./allowed", "~/x",
        "s3://elsewhere/x/y",                        # allowed, but not this server's backend
        "http://example.com/x", "file://otherhost/x",
    ]
    before = sorted(str(p) for p in place.rglob("*"))
    messages = set()
    for root in candidates:
        for path, body in (("/catalogs", {"name": _name("c")}),
                           ("/schemas", {"catalog_name": "main", "name": _name("s")})):
            refused = admin.post(path, json={**body, "storage_root": root})
            assert refused.status_code == 400, (root, refused.text)
            error = refused.json()
            assert error["error_code"] == "INVALID_ARGUMENT"
            assert NOT_ALLOWED in error["message"]
            messages.add(error["message"].replace(f"'{root}'", "'…'"))
    # One message for every refusal: nothing tells what exists where.
    assert len(messages) == 1, messages
    assert "directory" not in messages.pop().lower()
    assert sorted(str(p) for p in place.rglob("*")) == before


def test_allowed_root_is_accepted_and_touched_only_by_files(
        admin: httpx.Client, roots_server: AuthServer, place: Path) -> None:
    catalog = _name("roots")
    catalog_root, schema_root = place / "allowed" / catalog, place / "allowed" / "s" / catalog
    created = admin.post("/catalogs", json={"name": catalog,
                                            "storage_root": catalog_root.as_uri()})
    assert created.status_code == 200, created.text
    created_json = created.json()
    assert created_json["storage_root"] == catalog_root.as_uri()
    assert created_json["storage_location"] == (
        f"{catalog_root.as_uri()}/__unitystorage/catalogs/{created_json['id']}")
    own = admin.post("/schemas", json={"catalog_name": catalog, "name": "own",
                                       "storage_root": str(schema_root)}).json()
    admin.post("/schemas", json={"catalog_name": catalog, "name": "inherits"})
    assert not catalog_root.exists() and not schema_root.exists()  # nothing made yet
    try:
        locations = {}
        for schema_name in ("own", "inherits"):
            admin.post("/models", json={"catalog_name": catalog, "schema_name": schema_name,
                                        "name": "m"})
            version = admin.post("/models/versions", json={
                "catalog_name": catalog, "schema_name": schema_name, "model_name": "m",
                "source": "runs:/r/m"}).json()
            locations[schema_name] = version["storage_location"]
            (local_path(version["storage_location"]) / "MLmodel").write_text(SIGNED_MLMODEL)
            ready = admin.patch(f"/models/{catalog}.{schema_name}.m/versions/1/finalize")
            assert ready.json()["status"] == "READY", ready.text
        assert locations["own"].startswith(own["storage_location"] + "/models/")
        assert locations["inherits"].startswith(created_json["storage_location"] + "/models/")
        default = admin.post("/models", json={"catalog_name": "main", "schema_name": "default",
                                              "name": _name("m")}).json()
        artifacts = (roots_server.process.data_dir / "artifacts").resolve().as_uri()
        assert default["storage_location"].startswith(f"{artifacts}/__unitystorage/models/")
        admin.delete(f"/models/{default['full_name']}")
    finally:
        admin.delete(f"/catalogs/{catalog}", params={"force": "true"})
    assert files_under(catalog_root) == [] and files_under(schema_root) == []


def test_every_surface_refuses_a_disallowed_root(roots_server: AuthServer,
                                                 place: Path) -> None:
    target = place / "sdk-target"
    sdk = WorkspaceClient(host=roots_server.url, token=roots_server.admin_token)
    with pytest.raises(DatabricksError, match=NOT_ALLOWED):
        sdk.catalogs.create(name=_name("sdk"), storage_root=str(target))
    with pytest.raises(DatabricksError, match=NOT_ALLOWED):
        sdk.schemas.create(name=_name("sdk"), catalog_name="main", storage_root=str(target))
    env = {**os.environ, "MODELYARD_TOKEN": roots_server.admin_token}
    for args in (["catalogs", "create", _name("cli")],
                 ["schemas", "create", f"main.{_name('cli')}"]):
        result = subprocess.run([MODELYARD, *args, "--storage-root", str(target), "--url",
                                 roots_server.url], capture_output=True, text=True, env=env,
                                timeout=60)
        assert result.returncode != 0
        assert NOT_ALLOWED in result.stderr + result.stdout
    assert not target.exists()
    allowed = place / "allowed" / _name("sdk")
    made = sdk.catalogs.create(name=_name("sdk"), storage_root=str(allowed))
    assert made.storage_root == allowed.as_uri()
    sdk.catalogs.delete(made.name or "", force=True)


def test_a_location_outside_every_allowed_root_takes_no_new_versions(
        admin: httpx.Client, roots_server: AuthServer, place: Path) -> None:
    """A model whose location no allowed root covers any more (its catalog made before the
    operator withdrew the root) gets no new version, and nothing is created there."""
    schema = _name("s")
    admin.post("/schemas", json={"catalog_name": "main", "name": schema})
    model = admin.post("/models", json={"catalog_name": "main", "schema_name": schema,
                                        "name": "m"}).json()
    withdrawn = place / "withdrawn" / "models" / "m"
    database = Database(roots_server.database_url
                        or sqlite_url_for(roots_server.process.data_dir))
    try:
        with database.engine.begin() as conn:
            conn.execute(update(registered_models)
                         .where(registered_models.c.name == model["full_name"])
                         .values(storage_location=withdrawn.as_uri()))
    finally:
        database.dispose()
    refused = admin.post("/models/versions", json={
        "catalog_name": "main", "schema_name": schema, "model_name": "m", "source": "x"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == "FAILED_PRECONDITION"
    assert "does not allow" in refused.json()["message"]
    assert not (place / "withdrawn").exists()
    admin.delete(f"/schemas/main.{schema}", params={"force": "true"})
