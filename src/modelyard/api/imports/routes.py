"""POST /api/modelyard/v1/import/model-versions: create a version under a given number.

Import only (metastore admins; services/version_import.py): `modelyard import-mlflow` uses it
to keep an MLflow registry's version numbers. Body, MLflow's field names:

    {"registry": "workspace" | "uc", "name", "version", "source", "run_id", "run_link",
     "description", "current_stage", "tags": [{"key", "value"}], "model_id", "user_id",
     "creation_timestamp", "last_updated_timestamp"}

A workspace version is created READY and answered as MLflow renders one; a Unity Catalog
version (`registry: "uc"`, a three-level name) PENDING_REGISTRATION, answered as the
`databricks-uc` dialect renders one, for the importer to upload its files and finalize it.
Errors use MLflow's envelope.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.databricks_uc import render as uc_render
from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow import render
from modelyard.api.mlflow.params import Params
from modelyard.domain.actor import Actor
from modelyard.domain.catalog import Lineage
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.names import parse_version
from modelyard.services.version_import import VersionImportService

PATH = "/api/modelyard/v1/import/model-versions"


def import_model_version(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    service: VersionImportService = request.app.state.version_import
    registry = p.optional_str("registry") or "workspace"
    name, source = p.required_str("name"), p.required_str("source")
    version = parse_version(p.required_version())
    if registry == "uc":
        created = service.import_uc_version(
            actor, name, version, source, comment=p.optional_str("description"),
            lineage=Lineage(run_id=p.optional_str("run_id") or "", source=source,
                            model_id=p.optional_str("model_id") or ""),
            tags=p.tags())
        return {"model_version": uc_render.model_version(created)}
    if registry != "workspace":
        raise InvalidArgument(f"Invalid registry '{registry}': use 'workspace' or 'uc'.")
    imported = service.import_workspace_version(
        actor, name, version, source, run_id=p.optional_str("run_id"),
        run_link=p.optional_str("run_link"), description=p.optional_str("description"),
        stage=p.optional_str("current_stage"), tags=p.tags(),
        logged_model_id=p.optional_str("model_id"), user_id=p.optional_str("user_id"),
        created_at=p.optional_int("creation_timestamp"),
        updated_at=p.optional_int("last_updated_timestamp"))
    return {"model_version": render.model_version(imported)}


def routes() -> list[BaseRoute]:
    return [Route(PATH, endpoint(import_model_version), methods=["POST"])]
