"""`modelyard users|groups|tokens|grants|audit …`: identity and access on a running server, and
checking the audit chain in a database.

The HTTP commands talk to `--url` (default http://127.0.0.1:8080) with `--token` or
MODELYARD_TOKEN. `tokens create` prints only the token on stdout, so it can be captured.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table

from modelyard.cli.uc_client import Client, ClientError

console = Console()
errors = Console(stderr=True)
SCIM = "/api/2.0/preview/scim/v2"

Url = Annotated[str, typer.Option("--url", envvar="MODELYARD_URL", help="Server base URL.")]
Token = Annotated[str | None, typer.Option("--token", envvar="MODELYARD_TOKEN",
                                           help="Bearer token, if the server requires one.")]
DEFAULT_URL = "http://127.0.0.1:8080"

users = typer.Typer(no_args_is_help=True, help="Users.")
groups = typer.Typer(no_args_is_help=True, help="Groups (they may contain groups).")
tokens = typer.Typer(no_args_is_help=True, help="Personal access tokens.")
grants = typer.Typer(no_args_is_help=True, help="Unity Catalog grants.")
audit = typer.Typer(no_args_is_help=True, help="The audit trail.")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


def bootstrap_admin(database: Any, data_dir: Path) -> None:
    """First start with --auth: create `admin` and write its token (mode 0600)."""
    from modelyard.services import audit as audit_service
    from modelyard.services.identity import IdentityService
    from modelyard.services.unit_of_work import UnitOfWorkFactory

    units = UnitOfWorkFactory(database)
    audit_service.install(units)
    if IdentityService(units).bootstrap_admin(data_dir):
        errors.print(f"Created the metastore admin 'admin'; its token is in "
                     f"{data_dir / 'admin-token'} (readable by you only).")


def _client(url: str, token: str | None) -> Client:
    return Client(url, token)


def _run(call: Any) -> Any:
    try:
        return call()
    except ClientError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None


def _find(client: Client, resource: str, attribute: str, name: str) -> dict[str, Any]:
    found = client.call("GET", f"{SCIM}/{resource}",
                        {"filter": f'{attribute} eq "{name}"'}).get("Resources", [])
    if not found:
        raise ClientError(404, "RESOURCE_DOES_NOT_EXIST", f"{name!r} not found")
    return found[0]


@users.command("create")
def users_create(name: str, email: Annotated[str | None, typer.Option("--email")] = None,
                 display_name: Annotated[str | None, typer.Option("--display-name")] = None,
                 url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Create a user."""
    body: dict[str, Any] = {"userName": name, "displayName": display_name or name}
    if email:
        body["emails"] = [{"value": email, "primary": True}]
    user = _run(lambda: _client(url, token).call("POST", f"{SCIM}/Users", body=body))
    console.print(f"created user {user['userName']} (id {user['id']})")


@users.command("list")
def users_list(url: Url = DEFAULT_URL, token: Token = None) -> None:
    """List users."""
    found = _run(lambda: _client(url, token).call("GET", f"{SCIM}/Users"))
    table = Table("id", "user", "display name", "active", "groups")
    for user in found.get("Resources", []):
        table.add_row(user["id"], user["userName"], user.get("displayName", ""),
                      str(user.get("active", True)),
                      ", ".join(g["display"] for g in user.get("groups", [])))
    console.print(table)


@groups.command("create")
def groups_create(name: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Create a group."""
    group = _run(lambda: _client(url, token).call("POST", f"{SCIM}/Groups",
                                                  body={"displayName": name}))
    console.print(f"created group {group['displayName']} (id {group['id']})")


@groups.command("add-member")
def groups_add_member(group: str, member: str, url: Url = DEFAULT_URL,
                      token: Token = None) -> None:
    """Add a user, service principal or group to a group."""
    client = _client(url, token)

    def add() -> None:
        target = _find(client, "Groups", "displayName", group)
        try:
            found = _find(client, "Users", "userName", member)
        except ClientError:
            try:
                found = _find(client, "Groups", "displayName", member)
            except ClientError:
                found = _find(client, "ServicePrincipals", "applicationId", member)
        client.call("PATCH", f"{SCIM}/Groups/{target['id']}", body={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": found["id"]}]}],
        })

    _run(add)
    console.print(f"added {member} to {group}")


@tokens.command("create")
def tokens_create(user: Annotated[str | None, typer.Option(
                      "--user", help="Whose token (metastore admins only); default: yours.")]
                  = None,
                  lifetime_days: Annotated[float | None, typer.Option("--lifetime-days")] = None,
                  comment: Annotated[str, typer.Option("--comment")] = "",
                  url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Create a token and print only it on stdout."""
    body: dict[str, Any] = {"comment": comment}
    if lifetime_days:
        body["lifetime_seconds"] = int(lifetime_days * 86400)
    client = _client(url, token)
    if user:
        body["application_id"] = user
        created = _run(lambda: client.call(
            "POST", "/api/2.0/token-management/on-behalf-of/tokens", body=body))
    else:
        created = _run(lambda: client.call("POST", "/api/2.0/token/create", body=body))
    typer.echo(created["token_value"])


@tokens.command("list")
def tokens_list(url: Url = DEFAULT_URL, token: Token = None) -> None:
    """List your tokens (never their values)."""
    found = _run(lambda: _client(url, token).call("GET", "/api/2.0/token/list"))
    table = Table("token id", "comment", "created", "expires")
    for info in found.get("token_infos", []):
        table.add_row(info["token_id"], info.get("comment", ""), str(info["creation_time"]),
                      str(info["expiry_time"]))
    console.print(table)


@tokens.command("delete")
def tokens_delete(token_id: str, url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Revoke a token."""
    _run(lambda: _client(url, token).call("POST", "/api/2.0/token/delete",
                                          body={"token_id": token_id}))
    console.print(f"revoked {token_id}")


def _permissions_path(securable_type: str, name: str) -> str:
    return f"/api/2.1/unity-catalog/permissions/{securable_type}/{quote(name, safe='')}"


@grants.command("show")
def grants_show(securable_type: str, name: str, url: Url = DEFAULT_URL,
                token: Token = None) -> None:
    """Grants on a catalog, schema or model (`function`/`registered_model`/`model`)."""
    found = _run(lambda: _client(url, token).call("GET", _permissions_path(securable_type,
                                                                           name)))
    table = Table("principal", "privileges")
    for assignment in found.get("privilege_assignments", []):
        table.add_row(assignment["principal"], ", ".join(assignment.get("privileges", [])))
    console.print(table)


def _change(securable_type: str, name: str, principal: str, privileges: list[str], key: str,
            url: str, token: str | None) -> None:
    _run(lambda: _client(url, token).call(
        "PATCH", _permissions_path(securable_type, name),
        body={"changes": [{"principal": principal, key: privileges}]}))


@grants.command("grant")
def grants_grant(securable_type: str, name: str, principal: str, privileges: list[str],
                 url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Grant privileges, e.g. `grants grant schema main.fraud data-team "USE SCHEMA"`."""
    _change(securable_type, name, principal, privileges, "add", url, token)
    console.print(f"granted {', '.join(privileges)} on {securable_type} {name} to {principal}")


@grants.command("revoke")
def grants_revoke(securable_type: str, name: str, principal: str, privileges: list[str],
                  url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Revoke privileges."""
    _change(securable_type, name, principal, privileges, "remove", url, token)
    console.print(f"revoked {', '.join(privileges)} on {securable_type} {name} from "
                  f"{principal}")


@audit.command("verify")
def audit_verify(
    data_dir: Annotated[Path, typer.Option(envvar="MODELYARD_DATA_DIR")]
    = Path("modelyard-data"),
    database_url: Annotated[str | None, typer.Option(envvar="MODELYARD_DATABASE_URL")] = None,
    expect_head: Annotated[str | None, typer.Option(
        help="SEQ:HASH printed by an earlier run (keep it outside the database): fail when "
             "that row is gone or changed, which catches rows cut off the end.")] = None,
) -> None:
    """Check the audit chain; exit 1 naming every edited, inserted or deleted row. Prints the
    head (SEQ:HASH) to keep for --expect-head."""
    from modelyard.services.audit import verify
    from modelyard.store.database import Database, sqlite_url_for

    expected = None
    if expect_head is not None:
        seq, sep, digest = expect_head.partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64:
            errors.print("[red]error:[/red] --expect-head takes SEQ:HASH, as printed by verify")
            raise typer.Exit(2)
        expected = (int(seq), digest)
    url = database_url or sqlite_url_for(data_dir)
    if not database_url and not (data_dir / "modelyard.db").exists():
        errors.print(f"[red]error:[/red] no database in {data_dir}")
        raise typer.Exit(2)
    database = Database(url)
    try:
        problems, head = verify(database, expected)
    finally:
        database.dispose()
    if problems:
        for problem in problems:
            typer.echo(f"TAMPERED: {problem}")
        raise typer.Exit(1)
    typer.echo("audit chain intact" + (f"; head {head[0]}:{head[1]}" if head else ", empty"))


def register(app: typer.Typer) -> None:
    app.add_typer(users, name="users")
    app.add_typer(groups, name="groups")
    app.add_typer(tokens, name="tokens")
    app.add_typer(grants, name="grants")
    app.add_typer(audit, name="audit")
