"""The identity commands run against the server with --auth (one per engine)."""

from tests.api.identity.conftest import auth_database_url, auth_server

__all__ = ["auth_database_url", "auth_server"]
