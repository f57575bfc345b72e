"""The services, built by the composition root (modelyard/bootstrap.build) in process, on a
real database: SQLite in a temporary directory, and PostgreSQL where it is reachable. One
database per engine per test module; tests use names of their own (`unique`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from modelyard.bootstrap import Modelyard, build
from modelyard.config import Settings
from modelyard.domain.actor import LOCAL_ADMIN, Actor
from modelyard.domain.audit import AuditQuery
from modelyard.domain.catalog import Lineage
from modelyard.domain.principals import Kind
from modelyard.services.audit import AuditEvent
from modelyard.storage.local import file_uri_to_path
from modelyard.store.database import Database, sqlite_url_for
from modelyard.store.migrate import upgrade
from tests.conftest import database_url_for
from tests.support.uc_models import SIGNED_MLMODEL

ADMIN = LOCAL_ADMIN


@pytest.fixture(scope="module")
def built(engine: str, pg_available: bool,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Modelyard]:
    directory = tmp_path_factory.mktemp(f"services-{engine}")
    for url in database_url_for(engine, pg_available):
        database = Database(url or sqlite_url_for(directory))
        upgrade(database)
        try:
            yield build(Settings(data_dir=directory), database)
        finally:
            database.dispose()


@pytest.fixture()
def unique() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def new_user(built: Modelyard, unique: str) -> Callable[[str], Actor]:
    """A new user in the directory, as the actor it acts as."""
    def create(role: str) -> Actor:
        name = f"{role}-{unique}"
        built.identity.create_principal(ADMIN, Kind.USER, name)
        return Actor(name=name)
    return create


def events(built: Modelyard, action: str, name: str) -> list[AuditEvent]:
    found, _ = built.audit.search(ADMIN, AuditQuery(action=action, object_name=name))
    return found


def uc_model(built: Modelyard, unique: str) -> str:
    """A new Unity Catalog model in main.default; its full name."""
    built.uc_models.create_model(ADMIN, "main", "default", unique)
    return f"main.default.{unique}"


def ready_version(built: Modelyard, full_name: str) -> int:
    """A new READY version of the model, with one file; its number."""
    version = built.uc_models.create_version(ADMIN, full_name, "s3://b/x", lineage=Lineage())
    # Where a `uc:` client on the same host writes its files (governed local storage).
    directory = file_uri_to_path(version.storage_location)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLmodel").write_text(SIGNED_MLMODEL)
    return built.uc_models.finalize_version(ADMIN, full_name, version.version).version
