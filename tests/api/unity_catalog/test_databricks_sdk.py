"""databricks-sdk's WorkspaceClient against Modelyard: catalogs, schemas, registered_models,
model_versions, exactly as a Databricks user calls them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import AlreadyExists, BadRequest, NotFound
from databricks.sdk.service.catalog import EntityTagAssignment, ModelVersionInfoStatus

from tests.api.unity_catalog.conftest import local_path
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL


@pytest.fixture()
def workspace(server: ServerProcess) -> WorkspaceClient:
    return WorkspaceClient(host=server.url, token="modelyard-test-token")


def _ready_version(uc: httpx.Client, full_name: str, payload: bytes = b"weights") -> int:
    """Register a version the way a client does: create, write files, finalize."""
    catalog_name, schema_name, model_name = full_name.split(".")
    created = uc.post("/models/versions", json={
        "catalog_name": catalog_name, "schema_name": schema_name, "model_name": model_name,
        "source": "runs:/r1/model", "run_id": "r1"}).json()
    directory = local_path(created["storage_location"])
    (directory / "model.bin").write_bytes(payload)
    (directory / "MLmodel").write_text(SIGNED_MLMODEL)
    version = created["version"]
    finalized = uc.patch(f"/models/{full_name}/versions/{version}/finalize",
                         json={"full_name": full_name, "version": version})
    assert finalized.status_code == 200, finalized.text
    return int(version)


@pytest.fixture()
def catalog(workspace: WorkspaceClient) -> Iterator[str]:
    name = f"sdk_{uuid.uuid4().hex[:8]}"
    workspace.catalogs.create(name=name, comment="from the sdk", properties={"env": "test"})
    yield name
    with contextlib.suppress(NotFound):
        workspace.catalogs.delete(name, force=True)


def test_catalogs_and_schemas(workspace: WorkspaceClient, catalog: str) -> None:
    info = workspace.catalogs.get(catalog)
    assert (info.comment, info.properties, info.owner) == ("from the sdk", {"env": "test"},
                                                           "admin")
    assert catalog in [c.name for c in workspace.catalogs.list()]
    assert "main" in [c.name for c in workspace.catalogs.list()]
    updated = workspace.catalogs.update(catalog, comment="changed", properties={"env": "prod"})
    assert (updated.comment, updated.properties) == ("changed", {"env": "prod"})

    schema = workspace.schemas.create(name="fraud", catalog_name=catalog, comment="team")
    assert schema.full_name == f"{catalog}.fraud"
    assert [s.name for s in workspace.schemas.list(catalog_name=catalog)] == ["fraud"]
    assert workspace.schemas.update(f"{catalog}.fraud", comment="risk team").comment == (
        "risk team")
    with pytest.raises(BadRequest):
        workspace.schemas.create(name="fraud", catalog_name=catalog)  # UC: 400 ALREADY_EXISTS
    workspace.schemas.delete(f"{catalog}.fraud")
    with pytest.raises(NotFound):
        workspace.schemas.get(f"{catalog}.fraud")


def test_registered_models_and_aliases(workspace: WorkspaceClient, catalog: str,
                                       server: ServerProcess) -> None:
    workspace.schemas.create(name="fraud", catalog_name=catalog)
    full_name = f"{catalog}.fraud.detector"
    model = workspace.registered_models.create(
        catalog_name=catalog, schema_name="fraud", name="detector", comment="v0")
    assert (model.full_name, model.owner, model.comment) == (full_name, "admin", "v0")
    with pytest.raises(AlreadyExists):
        workspace.registered_models.create(catalog_name=catalog, schema_name="fraud",
                                           name="detector")
    listed = workspace.registered_models.list(catalog_name=catalog, schema_name="fraud")
    assert [m.full_name for m in listed] == [full_name]

    with http_clients.Client(base_url=server.url + "/api/2.1/unity-catalog") as uc:
        first, second = _ready_version(uc, full_name), _ready_version(uc, full_name)
    alias = workspace.registered_models.set_alias(full_name, "champion", first)
    assert (alias.alias_name, alias.version_num) == ("champion", first)
    workspace.registered_models.set_alias(full_name, "challenger", second)

    got = workspace.registered_models.get(full_name, include_aliases=True)
    assert {(a.alias_name, a.version_num) for a in got.aliases or []} == {
        ("champion", first), ("challenger", second)}
    assert workspace.model_versions.get_by_alias(full_name, "champion").version == first

    workspace.registered_models.set_alias(full_name, "champion", second)  # move it
    assert workspace.model_versions.get_by_alias(full_name, "champion").version == second
    workspace.registered_models.delete_alias(full_name, "challenger")
    with pytest.raises(NotFound):
        workspace.model_versions.get_by_alias(full_name, "challenger")

    updated = workspace.registered_models.update(full_name, comment="Detects fraud",
                                                 owner="ana@example.com")
    assert (updated.comment, updated.owner) == ("Detects fraud", "ana@example.com")


def test_model_versions(workspace: WorkspaceClient, catalog: str, server: ServerProcess) -> None:
    workspace.schemas.create(name="fraud", catalog_name=catalog)
    full_name = f"{catalog}.fraud.detector"
    workspace.registered_models.create(catalog_name=catalog, schema_name="fraud",
                                       name="detector")
    with http_clients.Client(base_url=server.url + "/api/2.1/unity-catalog") as uc:
        numbers = [_ready_version(uc, full_name, f"w{i}".encode()) for i in range(3)]
    assert numbers == [1, 2, 3]
    workspace.registered_models.set_alias(full_name, "prod", 2)

    version = workspace.model_versions.get(full_name, 2, include_aliases=True)
    assert version.status == ModelVersionInfoStatus.READY
    assert (version.run_id, version.source) == ("r1", "runs:/r1/model")
    assert [a.alias_name for a in version.aliases or []] == ["prod"]
    assert [v.version for v in workspace.model_versions.list(full_name)] == [1, 2, 3]
    assert [v.version for v in workspace.model_versions.list(full_name, max_results=2)] == [
        1, 2, 3]

    updated = workspace.model_versions.update(full_name, 2, comment="validated on Q3")
    assert updated.comment == "validated on Q3"

    location = local_path(version.storage_location or "")
    assert location.exists()
    workspace.model_versions.delete(full_name, 2)
    assert location.exists(), "a deleted version's files stay while it is in the trash"
    with pytest.raises(NotFound):
        workspace.model_versions.get(full_name, 2)
    with pytest.raises(NotFound):  # its alias went with it
        workspace.model_versions.get_by_alias(full_name, "prod")
    # Numbers are never reused.
    with http_clients.Client(base_url=server.url + "/api/2.1/unity-catalog") as uc:
        assert _ready_version(uc, full_name) == 4

    model_location = local_path(workspace.registered_models.get(full_name).storage_location
                                or "")
    workspace.registered_models.delete(full_name)
    assert model_location.exists()
    with http_clients.Client(base_url=server.url) as native:  # purging the trash removes them
        assert native.post("/api/modelyard/v1/trash/purge",
                           json={"name": full_name}).status_code == 200
    assert not model_location.exists(), "purging a model removes every version's files"
    assert not location.exists()


def test_tags_on_catalogs_schemas_models_and_versions(workspace: WorkspaceClient, catalog: str,
                                                      server: ServerProcess) -> None:
    workspace.schemas.create(name="fraud", catalog_name=catalog)
    full_name = f"{catalog}.fraud.detector"
    workspace.registered_models.create(catalog_name=catalog, schema_name="fraud",
                                       name="detector")
    with http_clients.Client(base_url=server.url + "/api/2.1/unity-catalog") as uc:
        _ready_version(uc, full_name)
    tags = workspace.entity_tag_assignments
    for entity_type, name in [("catalogs", catalog), ("schemas", f"{catalog}.fraud"),
                              ("registered_models", full_name),
                              ("model_versions", f"{full_name}.1")]:
        tags.create(EntityTagAssignment(entity_name=name, entity_type=entity_type,
                                        tag_key="team", tag_value="risk"))
        tags.create(EntityTagAssignment(entity_name=name, entity_type=entity_type,
                                        tag_key="pii", tag_value="no"))
        assert tags.get(entity_type, name, "team").tag_value == "risk"
        tags.delete(entity_type, name, "pii")
        assert [(t.tag_key, t.tag_value) for t in tags.list(entity_type, name)] == [
            ("team", "risk")]
        with pytest.raises(NotFound):
            tags.get(entity_type, name, "pii")
    # The tags show on the objects themselves (a Modelyard addition the clients ignore).
    with http_clients.Client(base_url=server.url + "/api/2.1/unity-catalog") as uc:
        assert uc.get(f"/catalogs/{catalog}").json()["tags"] == [{"key": "team",
                                                                 "value": "risk"}]
        assert uc.get(f"/models/{full_name}/versions/1").json()["tags"] == [
            {"key": "team", "value": "risk"}]
