"""Authentication: bearer tokens and basic auth on every surface; refusals are 401 with the
surface's own error code; revoked and expired tokens stop working; the admin bootstrap."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from databricks.sdk.errors import Unauthenticated
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.api.identity.conftest import AuthServer
from tests.support import http_clients
from tests.support.server import MODELYARD, ServerProcess, free_port

SEARCH = "/api/2.0/mlflow/registered-models/search"


def test_no_credentials_is_401_unauthenticated(auth_server: AuthServer) -> None:
    with auth_server.client() as anonymous:
        response = anonymous.get(SEARCH)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("header", ["Bearer dapi-not-a-token", "Basic bm90OmJhc2U2NA==",
                                    "Basic %%%", "Token abc", "Bearer"])
def test_bad_credentials_are_401(auth_server: AuthServer, header: str) -> None:
    response = http_clients.get(auth_server.url + SEARCH, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_admin_token_file_is_private(auth_server: AuthServer) -> None:
    path = auth_server.process.data_dir / "admin-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with auth_server.admin() as admin:
        me = admin.get("/api/2.0/preview/scim/v2/Me").json()
    assert me["userName"] == "admin"


def test_revoked_token_is_refused(auth_server: AuthServer) -> None:
    user = auth_server.new_user()
    with auth_server.client(user.token) as client:
        assert client.get(SEARCH).status_code == 200
        infos = client.get("/api/2.0/token/list").json()["token_infos"]
        assert len(infos) == 1 and "token_value" not in infos[0]
        deleted = client.post("/api/2.0/token/delete", json={"token_id": infos[0]["token_id"]})
        assert deleted.status_code == 200
        refused = client.get(SEARCH)
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "UNAUTHENTICATED"


def test_expired_token_is_refused(auth_server: AuthServer) -> None:
    user = auth_server.new_user()
    with auth_server.client(user.token) as client:
        short = client.post("/api/2.0/token/create",
                            json={"lifetime_seconds": 1, "comment": "short"}).json()
    with auth_server.client(short["token_value"]) as client:
        assert client.get(SEARCH).status_code == 200
        time.sleep(1.3)
        refused = client.get(SEARCH)
    assert refused.status_code == 401


def test_sdk_with_revoked_token_raises_unauthenticated(auth_server: AuthServer) -> None:
    user = auth_server.new_user()
    w = auth_server.sdk(user.token)
    assert w.current_user.me().user_name == user.name
    [info] = list(w.tokens.list())
    w.tokens.delete(info.token_id)
    with pytest.raises(Unauthenticated):
        w.current_user.me()


def test_mlflow_client_with_tracking_token(auth_server: AuthServer, unique_name: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    user = auth_server.new_user()
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", user.token)
    client = MlflowClient(tracking_uri=auth_server.url, registry_uri=auth_server.url)
    client.create_registered_model(unique_name)
    assert client.get_registered_model(unique_name).name == unique_name
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "dapi-wrong")
    with pytest.raises(MlflowException) as raised:
        client.get_registered_model(unique_name)
    assert raised.value.error_code == "UNAUTHENTICATED"


def test_mlflow_client_with_basic_auth(auth_server: AuthServer, unique_name: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    user = auth_server.new_user(password="correct horse battery staple")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user.name)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user.password)
    mlflow.set_registry_uri(auth_server.url)
    client = MlflowClient(tracking_uri=auth_server.url, registry_uri=auth_server.url)
    client.create_registered_model(unique_name)
    with auth_server.admin() as admin:
        model = admin.get("/api/2.0/mlflow/registered-models/get",
                          params={"name": unique_name}).json()["registered_model"]
    assert model["user_id"] == user.name
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong password")
    with pytest.raises(MlflowException) as raised:
        client.get_registered_model(unique_name)
    assert raised.value.error_code == "UNAUTHENTICATED"


def test_deactivated_user_is_refused(auth_server: AuthServer) -> None:
    user = auth_server.new_user()
    with auth_server.admin() as admin:
        response = admin.patch(f"/api/2.0/preview/scim/v2/Users/{user.id}", json={
            "Operations": [{"op": "replace", "path": "active", "value": False}]})
        assert response.status_code == 200
    with auth_server.client(user.token) as client:
        assert client.get(SEARCH).status_code == 401


def test_only_admins_manage_principals(auth_server: AuthServer) -> None:
    user = auth_server.new_user()
    with auth_server.client(user.token) as client:
        response = client.post("/api/2.0/preview/scim/v2/Users", json={"userName": "x@y.z"})
        assert response.status_code == 403
        assert response.json()["error_code"] == "PERMISSION_DENIED"
        other = client.post("/api/2.0/token-management/on-behalf-of/tokens",
                            json={"application_id": "admin"})
        assert other.status_code == 403


def test_non_loopback_without_auth_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([MODELYARD, "serve", "--host", "0.0.0.0", "--port",
                             str(free_port()), "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0
    assert "--auth" in result.stderr


def test_insecure_no_auth_allows_non_loopback(tmp_path: Path) -> None:
    # Bind to every address but talk over loopback only.
    server = ServerProcess(tmp_path, extra_args=["--host", "0.0.0.0", "--insecure-no-auth"])
    server.start()
    try:
        assert http_clients.get(server.url + SEARCH).status_code == 200
    finally:
        server.stop()


def test_no_secret_in_logs_or_bodies(auth_server: AuthServer) -> None:
    """Every token and password the tests handed out: none appears in the server log, and no
    response but the creating one carries a token value."""
    user = auth_server.new_user(password="s3cret-pass-phrase")
    with auth_server.client(user.token) as client:
        bodies = [client.get("/api/2.0/token/list").text,
                  client.get("/api/2.0/preview/scim/v2/Me").text,
                  http_clients.get(auth_server.url + SEARCH,
                                   headers={"Authorization": f"Bearer {user.token}x"}).text]
    with auth_server.admin() as admin:
        bodies += [admin.get("/api/2.0/preview/scim/v2/Users").text,
                   admin.get("/api/2.0/token-management/tokens").text,
                   admin.get("/api/modelyard/v1/audit", params={"max_results": 1000}).text]
    log = auth_server.process.log()
    for secret in auth_server.secrets:
        assert secret not in log
        for body in bodies:
            assert secret not in body
