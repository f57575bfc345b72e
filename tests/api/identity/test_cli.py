"""The identity commands of the `modelyard` CLI against a server with --auth."""

from __future__ import annotations

import os
import subprocess
import uuid

from tests.api.identity.conftest import AuthServer
from tests.support import http_clients
from tests.support.server import MODELYARD


def _cli(auth_server: AuthServer, *args: str, token: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELYARD_TOKEN": token or auth_server.admin_token,
           "COLUMNS": "200"}
    return subprocess.run([MODELYARD, *args, "--url", auth_server.url], capture_output=True,
                          text=True, timeout=60, env=env)


def test_users_groups_tokens_and_grants(auth_server: AuthServer) -> None:
    user, group = f"cli-{uuid.uuid4().hex[:8]}@example.com", f"cli-{uuid.uuid4().hex[:8]}"
    assert _cli(auth_server, "users", "create", user, "--email", user).returncode == 0
    assert _cli(auth_server, "groups", "create", group).returncode == 0
    added = _cli(auth_server, "groups", "add-member", group, user)
    assert added.returncode == 0, added.stderr
    created = _cli(auth_server, "tokens", "create", "--user", user, "--lifetime-days", "1")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert "\n" not in token and token.startswith("dapi")
    auth_server.secrets.append(token)
    me = http_clients.get(auth_server.url + "/api/2.0/preview/scim/v2/Me",
                          headers={"Authorization": f"Bearer {token}"}).json()
    assert me["userName"] == user and [g["display"] for g in me["groups"]] == [group]

    catalog = f"cli_{uuid.uuid4().hex[:8]}"
    with auth_server.admin() as admin:
        admin.post("/api/2.1/unity-catalog/catalogs", json={"name": catalog})
    granted = _cli(auth_server, "grants", "grant", "catalog", catalog, group, "USE_CATALOG",
                   "BROWSE")
    assert granted.returncode == 0, granted.stderr
    shown = _cli(auth_server, "grants", "show", "catalog", catalog)
    assert group in shown.stdout and "USE CATALOG" in shown.stdout
    assert _cli(auth_server, "grants", "revoke", "catalog", catalog, group,
                "BROWSE").returncode == 0
    assert "BROWSE" not in _cli(auth_server, "grants", "show", "catalog", catalog).stdout


def test_cli_refusal_exits_non_zero(auth_server: AuthServer) -> None:
    user = auth_server.new_user()
    refused = _cli(auth_server, "users", "create", "x@example.com", token=user.token)
    assert refused.returncode == 1
    assert "PERMISSION_DENIED" in refused.stderr
