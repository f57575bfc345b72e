"""The identity fixtures (a server with --auth) serve the audit tests too."""

from tests.api.identity.conftest import auth_database_url, auth_server

__all__ = ["auth_database_url", "auth_server"]
