"""`--auth`: both servers require credentials, the way they run in production.

- MLflow: its basic-auth app (`mlflow server --app-name basic-auth`, from `mlflow[auth]`), with
  its user store on the same database engine as the registry, `default_permission = READ` and
  its documented credential cache switched on (`auth_cache_ttl_seconds`: without it every
  request re-derives the password hash; Modelyard caches a checked credential for a few seconds
  too, so both are measured with a cache).
- Modelyard: `modelyard serve --auth`; the metastore admin's token is in the data folder.

The populate scenario writes as each server's administrator; the read scenarios read as an
ordinary user, `reader@example.com`, who may read every model (MLflow: the default READ
permission; Modelyard: CAN_READ on the registry root) and signs in with a user name and password
(HTTP basic auth, which both servers accept), so both check the same kind of credential.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from databases import Databases
from servers import HOST

READER = "reader@example.com"
SCIM = "/api/2.0/preview/scim/v2"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class AuthSetup:
    """What one server needs to run with authentication."""

    args: list[str] = field(default_factory=list)  # added to the server's command line
    env: dict[str, str] = field(default_factory=dict)  # added to its environment
    database_urls: list[str] = field(default_factory=list)  # to drop with the server's own
    admin_password: str = ""


@dataclass(frozen=True)
class Credentials:
    """Authorization header values: the writer loads the data set, the reader reads it."""

    writer: str
    reader: str


def prepare(kind_key: str, engine: str, data_dir: Path, dbs: Databases) -> AuthSetup:
    """The command-line arguments and environment that switch the server's auth on."""
    if kind_key != "mlflow":
        return AuthSetup(args=["--auth"])
    setup = AuthSetup(args=["--app-name", "basic-auth"], admin_password=secrets.token_urlsafe(16))
    users_db = dbs.create(engine, "mlflow_users", data_dir)
    if engine == "postgres":
        setup.database_urls.append(users_db)
    config = data_dir / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {users_db}\n"
        "admin_username = admin\n"
        f"admin_password = {setup.admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"
    )
    setup.env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
    setup.env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(16)  # its CSRF protection
    return setup


def credentials(kind_key: str, setup: AuthSetup, port: int, data_dir: Path) -> Credentials:
    """Create the reader on the running server; the writer's and the reader's credentials."""
    password = secrets.token_urlsafe(16)
    base = f"http://{HOST}:{port}"
    if kind_key == "mlflow":
        writer = basic("admin", setup.admin_password)
        with httpx.Client(base_url=base, timeout=60, headers={"Authorization": writer}) as http:
            http.post("/api/2.0/mlflow/users/create",
                      json={"username": READER, "password": password}).raise_for_status()
        return Credentials(writer, basic(READER, password))
    writer = "Bearer " + (data_dir / "admin-token").read_text().strip()
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": writer}) as http:
        http.post(f"{SCIM}/Users",
                  json={"userName": READER, "password": password}).raise_for_status()
        http.patch("/api/2.0/permissions/registered-models/root", json={"access_control_list": [
            {"user_name": READER, "permission_level": "CAN_READ"}]}).raise_for_status()
    return Credentials(writer, basic(READER, password))
