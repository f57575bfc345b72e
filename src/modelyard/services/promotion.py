"""Promotion from the workspace registry into Unity Catalog.

`MlflowClient(registry_uri="http://…").copy_model_version("models:/fraud-model/3",
"main.fraud.detector")` arrives on the MLflow 2.0 surface as `registered-models/create` and
`model-versions/create` with a three-level name and the source `models:/fraud-model/3`. As in a
Databricks workspace, a three-level name whose `catalog.schema` exists in Unity Catalog
addresses Unity Catalog: the model is created there, and the workspace version's files are
copied server-side into governed storage (PENDING_REGISTRATION → READY with digests). The new
version records where it came from (`copied_from`, plus run id and model id).

The signature rule is Databricks' for copies into UC: the copied MLmodel must carry a signature
with inputs and outputs (the client's MLFLOW_SKIP_SIGNATURE_CHECK_FOR_UC_REGISTRY_MIGRATION
bypass only exists for Databricks-to-Databricks migrations and does not reach the server).

Where the files are read from: the workspace version's `source` must be a location the server
can read: `s3://…` (with the server's own AWS credentials) or, for administrators only, a local
path / `file://` URI on the server's host. `models:/m-…`, `runs:/…` and `mlflow-artifacts:`
sources live in a tracking server Modelyard does not own and are refused with a clear message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from modelyard.domain.catalog import Lineage, SchemaNotFound, UcVersion, split_model_name
from modelyard.domain.entities import ModelVersion, RegisteredModel
from modelyard.domain.errors import (
    InvalidArgument,
    ModelyardError,
    NotFound,
    PermissionDenied,
)
from modelyard.domain.numbers import ascii_int
from modelyard.domain.stages import Stage
from modelyard.observability import metrics
from modelyard.services.catalogs import CatalogService
from modelyard.services.context import Actor
from modelyard.services.uc_models import UcModelService
from modelyard.storage.base import CHUNK_SIZE, ArtifactStore

if TYPE_CHECKING:
    from modelyard.services.registry import RegistryService


class Promotion:
    """Given to the workspace RegistryService, which hands it the names it claims."""

    def __init__(self, catalogs: CatalogService, uc_models: UcModelService) -> None:
        self.catalogs = catalogs
        self.uc_models = uc_models

    def claims(self, actor: Actor, name: str, workspace: RegistryService | None = None) -> bool:
        """Does this name, given to the `workspace` API, address Unity Catalog?"""
        parts = name.split(".") if isinstance(name, str) else []
        if len(parts) != 3 or not all(parts):
            return False
        try:
            self.catalogs.get_schema(actor, f"{parts[0]}.{parts[1]}")
        except SchemaNotFound:
            # The catalog exists (and the caller may see it) but not the schema: most likely a
            # typo in a promotion. Creating a workspace model of that name would be a guess;
            # only an existing workspace model of exactly that name is not one.
            if workspace is not None and _workspace_model_exists(workspace, actor, name):
                return False
            catalog = parts[0].lower()
            raise SchemaNotFound(
                f"Schema '{catalog}.{parts[1].lower()}' does not exist in Unity Catalog "
                f"catalog '{catalog}', so '{name}' names no Unity Catalog model. Create the "
                f"schema first (modelyard schemas create {catalog}.{parts[1].lower()}), or "
                "give the workspace model a name that does not start with a catalog's name."
            ) from None
        except NotFound:
            return False
        except PermissionDenied:
            return True  # it is UC's; let the UC call report the refusal
        except ModelyardError:
            return False
        return True

    # ---- the two calls copy_model_version makes -----------------------------------------------

    def create_model(self, actor: Actor, name: str, tags: Mapping[str, str] | None,
                     description: str | None) -> RegisteredModel:
        catalog, schema, model = split_model_name(name)
        created = self.uc_models.create_model(actor, catalog, schema, model, description, tags)
        return RegisteredModel(
            name=created.full_name, creation_timestamp=created.audit.created_at,
            last_updated_timestamp=created.audit.updated_at, user_id=created.audit.created_by,
            description=created.comment, tags=dict(created.tags))

    def copy_version(self, workspace: RegistryService, actor: Actor, name: str, source: str,
                     run_id: str | None = None, tags: Mapping[str, str] | None = None,
                     description: str | None = None,
                     logged_model_id: str | None = None) -> ModelVersion:
        """Copy the `workspace` version that `source` (models:/name/version) names."""
        origin = self._workspace_version(workspace, actor, source)
        files = self._source_files(actor, origin)
        lineage = Lineage(run_id=run_id or origin.run_id, source=source,
                          model_id=logged_model_id or origin.logged_model_id,
                          copied_from=f"models:/{origin.model_name}/{origin.version}")
        version = self.uc_models.create_version(actor, name, source, description, lineage, tags)
        try:
            asyncio.run(_copy(self.uc_models.artifacts, version.storage_location, files))
        except BaseException as error:
            message = getattr(error, "message", None) or str(error) or type(error).__name__
            self.uc_models.fail_version(actor, name, version.version,
                                        f"Copying the files failed: {message}")
            if isinstance(error, ModelyardError):
                raise
            raise InvalidArgument(
                f"Could not copy the files of models:/{origin.model_name}/{origin.version} "
                f"from {origin.source}: {message}") from error
        # Finalize checks the signature (Databricks' rule for copies into UC too).
        ready = self.uc_models.finalize_version(actor, name, version.version)
        return _as_workspace_entity(ready, origin)

    # ---- reading the source ------------------------------------------------------------------

    def _workspace_version(self, workspace: RegistryService, actor: Actor,
                           source: str) -> ModelVersion:
        parsed = urlparse(source)
        parts = parsed.path.strip("/").split("/") if parsed.scheme == "models" else []
        if len(parts) != 2 or ascii_int(parts[1]) is None:
            raise InvalidArgument(
                f"Invalid source '{source}' for a Unity Catalog model version created through "
                "the workspace registry API: expected models:/<workspace model>/<version> "
                "(as copy_model_version sends).")
        return workspace.get_model_version(actor, parts[0], parts[1])

    def _source_files(self, actor: Actor, origin: ModelVersion) -> list[tuple[str, object]]:
        source = origin.source
        scheme = urlparse(source).scheme
        if scheme == "s3":
            return list(_s3_files(source))
        if scheme in ("", "file"):
            if not actor.is_admin:
                raise PermissionDenied(
                    f"The files of models:/{origin.model_name}/{origin.version} are on a local "
                    f"path ({source}); only an administrator may copy from the server's disk.")
            directory = Path(unquote(urlparse(source).path) if scheme == "file" else source)
            if not directory.is_dir():
                raise InvalidArgument(f"The source directory {source} of "
                                      f"models:/{origin.model_name}/{origin.version} does not "
                                      "exist on the server.")
            return [(p.relative_to(directory).as_posix(), p)
                    for p in sorted(directory.rglob("*")) if p.is_file() and not p.is_symlink()]
        raise InvalidArgument(
            f"Cannot copy models:/{origin.model_name}/{origin.version}: its source '{source}' "
            "lives in an MLflow tracking server Modelyard cannot read. Register the workspace "
            "version with an s3:// or file:// source to promote it.")


def _workspace_model_exists(workspace: RegistryService, actor: Actor, name: str) -> bool:
    try:
        workspace.get_registered_model(actor, name)
    except NotFound:
        return False
    return True


def _s3_files(source: str) -> Iterator[tuple[str, object]]:
    from modelyard.storage.s3 import client_for, split_s3_uri

    bucket, prefix = split_s3_uri(source)
    client = client_for("s3")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                              Prefix=prefix.rstrip("/") + "/")
    for page in pages:
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix.rstrip("/")) + 1:]
            if relative and not relative.endswith("/"):
                yield relative, ("s3", bucket, item["Key"])


def _read(handle: object) -> Iterator[bytes]:
    if isinstance(handle, Path):
        with handle.open("rb") as stream:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk
        return
    from modelyard.storage.s3 import client_for

    assert isinstance(handle, tuple)
    bucket: str = handle[1]
    key: str = handle[2]
    body = client_for("s3").get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()


async def _copy(store: ArtifactStore, location: str, files: list[tuple[str, object]]) -> None:
    for relative, handle in files:
        stored = await store.write_stream(location, relative, _chunks(_read(handle)))
        metrics.UPLOAD_BYTES.labels("copy").inc(stored.size)


async def _chunks(source: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in source:
        yield chunk


def _as_workspace_entity(version: UcVersion, origin: ModelVersion) -> ModelVersion:
    return ModelVersion(
        model_name=version.full_name, version=version.version,
        creation_timestamp=version.audit.created_at,
        last_updated_timestamp=version.audit.updated_at, user_id=version.audit.created_by,
        current_stage=Stage.NONE, description=version.comment, source=version.lineage.source,
        run_id=version.lineage.run_id, run_link="", status=version.status.value,
        status_message=version.status_message, logged_model_id=version.lineage.model_id,
        tags=dict(version.tags), aliases=tuple(version.aliases))

