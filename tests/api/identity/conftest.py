"""A server started with `--auth` (one per engine, its own database), and helpers to make users,
groups and tokens on it through its own SCIM and token APIs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from databricks.sdk import WorkspaceClient

from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.server import PER_REFUSAL, ServerProcess

SCIM = "/api/2.0/preview/scim/v2"


@dataclass
class Principal:
    id: str
    name: str
    token: str = ""
    password: str = ""


@dataclass
class AuthServer:
    process: ServerProcess
    database_url: str | None
    admin_token: str = ""
    secrets: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.process.url

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return http_clients.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    def sdk(self, token: str) -> WorkspaceClient:
        return WorkspaceClient(host=self.url, token=token)

    def new_user(self, prefix: str = "user", groups: tuple[str, ...] = (),
                 password: str | None = None) -> Principal:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
        body: dict[str, Any] = {"userName": name}
        if password:
            body["password"] = password
            self.secrets.append(password)
        with self.admin() as admin:
            created = admin.post(f"{SCIM}/Users", json=body)
            assert created.status_code == 201, created.text
            user_id = created.json()["id"]
            for group in groups:
                self.add_member(group, user_id)
            token = admin.post("/api/2.0/token-management/on-behalf-of/tokens",
                               json={"application_id": name, "comment": "test"})
            assert token.status_code == 200, token.text
        value = token.json()["token_value"]
        self.secrets.append(value)
        return Principal(user_id, name, value, password or "")

    def new_group(self, prefix: str = "group") -> Principal:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        with self.admin() as admin:
            created = admin.post(f"{SCIM}/Groups", json={"displayName": name})
        assert created.status_code == 201, created.text
        return Principal(created.json()["id"], name)

    def add_member(self, group_id: str, member_id: str) -> None:
        with self.admin() as admin:
            response = admin.patch(f"{SCIM}/Groups/{group_id}", json={
                "Operations": [{"op": "add", "path": "members",
                                "value": [{"value": member_id}]}]})
        assert response.status_code == 200, response.text

    def set_level(self, model: str, principal: str, level: str) -> None:
        with self.admin() as admin:
            got = admin.get("/api/2.0/mlflow/databricks/registered-models/get",
                            params={"name": model})
            assert got.status_code == 200, got.text
            model_id = got.json()["registered_model_databricks"]["id"]
            kind = "group_name" if "@" not in principal else "user_name"
            response = admin.patch(f"/api/2.0/permissions/registered-models/{model_id}", json={
                "access_control_list": [{kind: principal, "permission_level": level}]})
        assert response.status_code == 200, response.text


@pytest.fixture(scope="session")
def auth_database_url(engine: str, pg_available: bool) -> Iterator[str | None]:
    yield from database_url_for(engine, pg_available)


@pytest.fixture(scope="session")
def auth_server(auth_database_url: str | None, engine: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    data_dir = tmp_path_factory.mktemp(f"auth-{engine}")
    process = ServerProcess(data_dir, auth_database_url,
                            extra_args=["--auth", *PER_REFUSAL]).start()
    server = AuthServer(process, auth_database_url)
    server.admin_token = (data_dir / "admin-token").read_text().strip()
    server.secrets.append(server.admin_token)
    try:
        yield server
    finally:
        process.stop()
