"""Issue 17, items 7 and 11 on a server with --auth: a 401 in the CLI says how to pass a token;
passwords shorter than 12 characters are refused with a clear message (SCIM, databricks-sdk)."""

from __future__ import annotations

import os
import subprocess

import pytest
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service import iam

from tests.api.identity.conftest import SCIM, AuthServer
from tests.support import http_clients
from tests.support.server import MODELYARD


def _cli(auth_server: AuthServer, *args: str, token: str | None
         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELYARD_TOKEN"}
    if token is not None:
        env["MODELYARD_TOKEN"] = token
    return subprocess.run([MODELYARD, *args, "--url", auth_server.url], capture_output=True,
                          text=True, timeout=60, env=env)


def test_cli_401_says_how_to_pass_a_token(auth_server: AuthServer) -> None:
    for command in (["catalogs", "list"], ["users", "list"]):
        missing = _cli(auth_server, *command, token=None)
        assert missing.returncode == 1
        assert "UNAUTHENTICATED" in missing.stderr
        for hint in ("--token", "MODELYARD_TOKEN", "admin-token"):
            assert hint in missing.stderr, missing.stderr
        wrong = _cli(auth_server, *command, token="dapi-not-a-real-token")
        assert wrong.returncode == 1
        assert "was refused" in wrong.stderr and "modelyard tokens create" in wrong.stderr
        assert "dapi-not-a-real-token" not in wrong.stderr


def test_short_passwords_are_refused(auth_server: AuthServer) -> None:
    with auth_server.admin() as admin:
        created = admin.post(f"{SCIM}/Users", json={"userName": "shorty@example.com",
                                                    "password": "eleven-char"})
    assert created.status_code == 400
    assert "at least 12 characters" in created.json()["message"]
    user = auth_server.new_user("patched")
    w = auth_server.sdk(auth_server.admin_token)
    with pytest.raises(InvalidParameterValue, match="at least 12 characters"):
        w.users.patch(user.id, operations=[
            iam.Patch(op=iam.PatchOp.REPLACE, path="password", value="tooshort")])
    w.users.patch(user.id, operations=[
        iam.Patch(op=iam.PatchOp.REPLACE, path="password", value="twelve chars")])
    signed_in = http_clients.get(auth_server.url + f"{SCIM}/Me", auth=(user.name, "twelve chars"))
    assert signed_in.status_code == 200, signed_in.text
