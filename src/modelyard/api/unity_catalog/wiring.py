"""Attach Unity Catalog to the application: storage backend, services, sweeper, routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from modelyard.api.unity_catalog import files, tags
from modelyard.api.unity_catalog import routes as uc_routes
from modelyard.config import Settings
from modelyard.services.catalogs import CatalogService
from modelyard.services.context import Actor
from modelyard.services.uc_models import UcModelService, start_sweeper
from modelyard.storage.factory import open_store

#: Who the periodic sweep acts as in the audit trail.
SYSTEM = Actor(name="system", is_admin=True)


def routes() -> list[BaseRoute]:
    return [*uc_routes.routes(), *tags.routes(), *files.routes()]


def attach(app: Starlette, settings: Settings) -> None:
    """Sets app.state.storage, .uc_catalogs, .uc_models and starts the pending sweep."""
    store = open_store(settings.resolved_storage_root)
    app.state.storage = store
    app.state.uc_catalogs = CatalogService(app.state.units, store)
    app.state.uc_models = UcModelService(app.state.units, store, settings.pending_timeout,
                                         require_signature=settings.uc_require_signature)
    interval = max(0.2, min(60.0, settings.pending_timeout / 4))
    app.state.uc_sweeper = start_sweeper(app.state.uc_models, SYSTEM, interval)
