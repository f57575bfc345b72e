"""The official `unitycatalog-client` SDK (async, generated from UC's OpenAPI spec)."""

from __future__ import annotations

import uuid

import pytest
from unitycatalog.client import (
    ApiClient,
    CatalogsApi,
    Configuration,
    CreateCatalog,
    CreateModelVersion,
    CreateRegisteredModel,
    CreateSchema,
    FinalizeModelVersion,
    ModelVersionsApi,
    RegisteredModelsApi,
    SchemasApi,
    UpdateModelVersion,
    UpdateRegisteredModel,
)
from unitycatalog.client.exceptions import ApiException, BadRequestException, NotFoundException

from tests.api.unity_catalog.conftest import UC, local_path
from tests.support.asyncio_thread import run_async
from tests.support.server import ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL


def test_catalog_schema_model_version_finalize_list_get(server: ServerProcess) -> None:
    catalog = f"c_{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        async with ApiClient(Configuration(host=server.url + UC)) as api:
            created = await CatalogsApi(api).create_catalog(
                CreateCatalog(name=catalog, comment="ml models", properties={"team": "risk"}))
            assert (created.name, created.comment, created.properties) == (
                catalog, "ml models", {"team": "risk"})
            schema = await SchemasApi(api).create_schema(
                CreateSchema(name="prod", catalog_name=catalog))
            assert schema.full_name == f"{catalog}.prod"

            models = RegisteredModelsApi(api)
            model = await models.create_registered_model(CreateRegisteredModel(
                name="iris", catalog_name=catalog, schema_name="prod", comment="first"))
            full_name = f"{catalog}.prod.iris"
            assert model.full_name == full_name and model.storage_location.startswith("file://")

            versions = ModelVersionsApi(api)
            pending = await versions.create_model_version(CreateModelVersion(
                model_name="iris", catalog_name=catalog, schema_name="prod",
                source="runs:/abc/model", run_id="abc"))
            assert pending.version == 1 and pending.status.value == "PENDING_REGISTRATION"
            assert pending.storage_location.startswith(model.storage_location + "/versions/")
            # A client on this host writes the files straight into the governed location.
            (local_path(pending.storage_location) / "MLmodel").write_text(SIGNED_MLMODEL)

            ready = await versions.finalize_model_version(
                full_name, 1, FinalizeModelVersion(full_name=full_name, version=1))
            assert ready.status.value == "READY" and ready.run_id == "abc"

            listed = await versions.list_model_versions(full_name, max_results=50)
            assert [v.version for v in listed.model_versions] == [1]
            got = await versions.get_model_version(full_name, 1)
            assert (got.source, got.status.value, got.id) == ("runs:/abc/model", "READY",
                                                              pending.id)
            updated = await versions.update_model_version(
                full_name, 1, UpdateModelVersion(comment="validated"))
            assert updated.comment == "validated"

            page = await models.list_registered_models(catalog_name=catalog, schema_name="prod")
            assert [m.full_name for m in page.registered_models] == [full_name]
            renamed = await models.update_registered_model(
                full_name, UpdateRegisteredModel(new_name="iris2", comment="renamed"))
            assert renamed.full_name == f"{catalog}.prod.iris2"
            assert renamed.storage_location == model.storage_location

            with pytest.raises(NotFoundException):
                await models.get_registered_model(full_name)
            with pytest.raises(BadRequestException):
                await CatalogsApi(api).delete_catalog(catalog)  # it has schemas
            await CatalogsApi(api).delete_catalog(catalog, force=True)
            assert not local_path(pending.storage_location).exists()
            with pytest.raises(ApiException) as missing:
                await CatalogsApi(api).get_catalog(catalog)
            assert missing.value.status == 404

    run_async(scenario())


def test_paging_with_max_results(server: ServerProcess, schema: str) -> None:
    catalog_name, schema_name = schema.split(".")

    async def scenario() -> None:
        async with ApiClient(Configuration(host=server.url + UC)) as api:
            models = RegisteredModelsApi(api)
            for i in range(5):
                await models.create_registered_model(CreateRegisteredModel(
                    name=f"m{i}", catalog_name=catalog_name, schema_name=schema_name))
            seen, token = [], None
            while True:
                page = await models.list_registered_models(
                    catalog_name=catalog_name, schema_name=schema_name, max_results=2,
                    page_token=token)
                assert len(page.registered_models) <= 2
                seen += [m.name for m in page.registered_models]
                token = page.next_page_token
                if not token:
                    break
            assert seen == [f"m{i}" for i in range(5)]

    run_async(scenario())
