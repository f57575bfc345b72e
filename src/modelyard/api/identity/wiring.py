"""Attach identity and access to the application: services, authentication, audit, routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from modelyard.api.audit import routes as audit_routes
from modelyard.api.auth import Authenticator
from modelyard.api.identity import grants as grant_routes
from modelyard.api.identity import routes as identity_routes
from modelyard.api.workspace import routes as workspace_routes
from modelyard.api.workspace import webhooks as webhook_routes
from modelyard.config import Settings
from modelyard.services import audit, grants, webhooks
from modelyard.services.address_limit import AddressLimit
from modelyard.services.identity import IdentityService
from modelyard.services.permissions import WorkspacePermissionService
from modelyard.services.signin_throttle import ThrottlePolicy
from modelyard.services.transitions import TransitionService


def routes() -> list[BaseRoute]:
    return [*identity_routes.routes(), *workspace_routes.routes(), *audit_routes.routes(),
            *grant_routes.routes(), *webhook_routes.routes()]


def attach(app: Starlette, settings: Settings) -> None:
    """Sets app.state.identity, .transitions, .workspace_permissions, .audit, .webhooks,
    .address_limit and .authenticate, installs the audit trail as a commit hook and webhook
    delivery as an after-commit hook."""
    units = app.state.units
    audit.install(units)
    grants.install(units)
    app.state.grants = grants.GrantService(units)
    app.state.identity = IdentityService(units, ThrottlePolicy(
        settings.signin_max_failures, settings.signin_window, settings.signin_lockout))
    app.state.transitions = TransitionService(units)
    app.state.workspace_permissions = WorkspacePermissionService(units)
    app.state.audit = audit.AuditService(units)
    app.state.webhooks = webhooks.install(units)
    app.state.address_limit = AddressLimit(settings.refusal_limit)
    app.state.authenticate = Authenticator(app.state.identity, units, settings.auth,
                                           app.state.address_limit)
