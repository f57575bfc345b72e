"""`modelyard users|groups|tokens|grants|audit …`: identity and access on a running server, and
checking the audit chain in a database.

The HTTP commands talk to `--url` (default http://127.0.0.1:8080) with `--token` or
MODELYARD_TOKEN. `tokens create` prints only the token on stdout, so it can be captured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from modelyard.cli.common import (
    confirm,
    connection_options,
    fail,
    group,
    open_database,
    print_table,
    yes_option,
)
from modelyard.cli.uc_client import Client, ClientError

SCIM = "/api/2.0/preview/scim/v2"

users = group("users", help="Users.")
groups = group("groups", help="Groups (they may contain groups).")
tokens = group("tokens", help="Personal access tokens.")
grants = group("grants", help="Unity Catalog grants.")
audit = group("audit", help="The audit trail.")


def is_loopback(host: str) -> bool:
    import ipaddress
    import socket

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


def bootstrap_admin(database: Any, data_dir: Path, secret_box: Any) -> None:
    """First start with --auth: create `admin` and write its token (mode 0600)."""
    from modelyard.bootstrap import units_for
    from modelyard.services.identity import IdentityService

    units, _ = units_for(database, secret_box)  # audited like a change made over HTTP
    if IdentityService(units).bootstrap_admin(data_dir):
        click.echo(f"Created the metastore admin 'admin'; its token is in "
                   f"{data_dir / 'admin-token'} (readable by you only).", err=True)


def _client(url: str, token: str | None) -> Client:
    return Client(url, token)


def _run(call: Any) -> Any:
    try:
        return call()
    except ClientError as error:
        raise fail(str(error)) from None


def _find(client: Client, resource: str, attribute: str, name: str) -> dict[str, Any]:
    found = client.call("GET", f"{SCIM}/{resource}",
                        {"filter": f'{attribute} eq "{name}"'}).get("Resources", [])
    if not found:
        raise ClientError(404, "RESOURCE_DOES_NOT_EXIST", f"{name!r} not found")
    return found[0]


@users.command("create")
@click.argument("name")
@click.option("--email")
@click.option("--display-name")
@connection_options
def users_create(name: str, email: str | None, display_name: str | None, url: str,
                 token: str | None) -> None:
    """Create a user."""
    body: dict[str, Any] = {"userName": name, "displayName": display_name or name}
    if email:
        body["emails"] = [{"value": email, "primary": True}]
    user = _run(lambda: _client(url, token).call("POST", f"{SCIM}/Users", body=body))
    click.echo(f"created user {user['userName']} (id {user['id']})")


@users.command("list")
@connection_options
def users_list(url: str, token: str | None) -> None:
    """List users."""
    found = _run(lambda: _client(url, token).call("GET", f"{SCIM}/Users"))
    print_table(["id", "user", "display name", "active", "groups"], (
        [user["id"], user["userName"], user.get("displayName", ""),
         str(user.get("active", True)), ", ".join(g["display"] for g in user.get("groups", []))]
        for user in found.get("Resources", [])))


@users.command("set-password")
@click.argument("name")
@connection_options
def users_set_password(name: str, url: str, token: str | None) -> None:
    """Set a user's password (metastore admins): asked twice, never echoed, never an argument
    (arguments show in `ps` and shell history). The server decides what it accepts."""
    client = _client(url, token)
    user = _run(lambda: _find(client, "Users", "userName", name))
    password = click.prompt(f"New password for {user['userName']}", hide_input=True,
                            confirmation_prompt=True, err=True)
    if not password:
        raise fail("the password is empty; nothing was changed")
    _run(lambda: client.call("PATCH", f"{SCIM}/Users/{user['id']}", body={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "password", "value": password}]}))
    click.echo(f"password set for {user['userName']}")


@groups.command("create")
@click.argument("name")
@connection_options
def groups_create(name: str, url: str, token: str | None) -> None:
    """Create a group."""
    group = _run(lambda: _client(url, token).call("POST", f"{SCIM}/Groups",
                                                  body={"displayName": name}))
    click.echo(f"created group {group['displayName']} (id {group['id']})")


@groups.command("add-member")
@click.argument("group")
@click.argument("member")
@connection_options
def groups_add_member(group: str, member: str, url: str, token: str | None) -> None:
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
    click.echo(f"added {member} to {group}")


@tokens.command("create")
@click.option("--user", help="Whose token (metastore admins only); default: yours.")
@click.option("--lifetime-days", type=float)
@click.option("--comment", default="")
@connection_options
def tokens_create(user: str | None, lifetime_days: float | None, comment: str, url: str,
                  token: str | None) -> None:
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
    click.echo(created["token_value"])


def _date(ms: Any, missing: str) -> str:
    """A token time (ms since the epoch; -1 or 0: none) as UTC date and time."""
    from datetime import UTC, datetime

    if not isinstance(ms, int) or ms <= 0:
        return missing
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


@tokens.command("list")
@connection_options
def tokens_list(url: str, token: str | None) -> None:
    """List your tokens (never their values): when each was made and when it expires."""
    found = _run(lambda: _client(url, token).call("GET", "/api/2.0/token/list"))
    print_table(["token id", "comment", "created", "expires"], (
        [info["token_id"], info.get("comment", ""), _date(info.get("creation_time"), ""),
         _date(info.get("expiry_time"), "never")] for info in found.get("token_infos", [])))


@tokens.command("delete")
@click.argument("token_id")
@yes_option
@connection_options
def tokens_delete(token_id: str, yes: bool, url: str, token: str | None) -> None:
    """Revoke a token (asks first, unless --yes): whatever uses it stops working."""
    confirm(f"Revoke token {token_id}? Whatever uses it stops working.", yes)
    _run(lambda: _client(url, token).call("POST", "/api/2.0/token/delete",
                                          body={"token_id": token_id}))
    click.echo(f"revoked {token_id}")


def _permissions_path(securable_type: str, name: str) -> str:
    return f"/api/2.1/unity-catalog/permissions/{securable_type}/{quote(name, safe='')}"


@grants.command("show")
@click.argument("securable_type")
@click.argument("name")
@connection_options
def grants_show(securable_type: str, name: str, url: str, token: str | None) -> None:
    """Grants on a catalog, schema or model (`function`/`registered_model`/`model`)."""
    found = _run(lambda: _client(url, token).call("GET", _permissions_path(securable_type,
                                                                           name)))
    print_table(["principal", "privileges"], (
        [assignment["principal"], ", ".join(assignment.get("privileges", []))]
        for assignment in found.get("privilege_assignments", [])))


def _change_command(verb: str, key: str, done: str, preposition: str, help_text: str) -> None:
    """The `grants grant` and `grants revoke` commands: one PATCH of the securable's
    permissions, adding or removing (`key`) the privileges."""

    @grants.command(verb, help=help_text)
    @click.argument("securable_type")
    @click.argument("name")
    @click.argument("principal")
    @click.argument("privileges", nargs=-1, required=True)
    @connection_options
    def change(securable_type: str, name: str, principal: str, privileges: tuple[str, ...],
               url: str, token: str | None) -> None:
        _run(lambda: _client(url, token).call(
            "PATCH", _permissions_path(securable_type, name),
            body={"changes": [{"principal": principal, key: list(privileges)}]}))
        click.echo(f"{done} {', '.join(privileges)} on {securable_type} {name} {preposition} "
                   f"{principal}")


_change_command("grant", "add", "granted", "to",
                'Grant privileges, e.g. `grants grant schema main.fraud data-team "USE SCHEMA"`.')
_change_command("revoke", "remove", "revoked", "from", "Revoke privileges.")


@audit.command("verify")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("modelyard-data"),
              envvar="MODELYARD_DATA_DIR", show_envvar=True, show_default=True)
@click.option("--database-url", envvar="MODELYARD_DATABASE_URL", show_envvar=True)
@click.option("--expect-head",
              help="SEQ:HASH printed by an earlier run (keep it outside the database): fail "
                   "when that row is gone or changed, which catches rows cut off the end.")
def audit_verify(data_dir: Path, database_url: str | None, expect_head: str | None) -> None:
    """Check the audit chain; exit 1 naming every edited, inserted or deleted row. Prints the
    head (SEQ:HASH) to keep for --expect-head."""
    from modelyard.services.audit import verify
    from modelyard.store.database import sqlite_url_for

    expected = None
    if expect_head is not None:
        seq, sep, digest = expect_head.partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64:
            raise fail("--expect-head takes SEQ:HASH, as printed by verify", 2)
        expected = (int(seq), digest)
    url = database_url or sqlite_url_for(data_dir)
    if not database_url and not (data_dir / "modelyard.db").exists():
        raise fail(f"no database in {data_dir}", 2)
    found: list[tuple[list[str], tuple[int, str] | None]] = []
    database = open_database(url, lambda db: found.append(verify(db, expected)))
    database.dispose()
    problems, head = found[0]
    if problems:
        for problem in problems:
            click.echo(f"TAMPERED: {problem}")
        raise click.exceptions.Exit(1)
    click.echo("audit chain intact" + (f"; head {head[0]}:{head[1]}" if head else ", empty"))


def register(app: click.Group) -> None:
    app.add_command(users, "users")
    app.add_command(groups, "groups")
    app.add_command(tokens, "tokens")
    app.add_command(grants, "grants")
    app.add_command(audit, "audit")
