"""Attach the Databricks UC dialect: the file service with its URL-signing key, and routes.

Needs app.state.uc_models (api/unity_catalog/wiring.attach runs first).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from modelyard.api.databricks_uc import files, prompts
from modelyard.api.databricks_uc import routes as uc_routes
from modelyard.services.model_files import ModelFileService, UrlSigner
from modelyard.services.promotion import Promotion
from modelyard.services.uc_prompts import UcPromptService
from modelyard.store import secrets


def routes() -> list[BaseRoute]:
    return [*uc_routes.routes(), *prompts.routes(), *files.routes()]


def attach(app: Starlette) -> None:
    """Sets app.state.model_files, .uc_prompts, and the workspace registry's promotion into
    UC."""
    signer = UrlSigner(secrets.get_or_create(app.state.database, "file-url-signing"))
    app.state.model_files = ModelFileService(app.state.uc_models, signer)
    app.state.uc_prompts = UcPromptService(app.state.uc_models)
    app.state.registry.promotion = Promotion(app.state.registry, app.state.uc_catalogs,
                                             app.state.uc_models)
