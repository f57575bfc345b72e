"""`modelyard aliases set|delete|show|history|rollback NAME@ALIAS …`: aliases in either
registry (history and rollback: through /api/modelyard/v1/models/NAME/aliases/ALIAS/...).

A three-level name (catalog.schema.model) is a Unity Catalog model, as everywhere in the CLI;
any other name is a workspace-registry model. `--workspace` says so for a workspace model whose
name happens to hold two dots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from modelyard.cli.common import (
    confirm,
    connection_options,
    fail,
    group,
    print_table,
    yes_option,
)
from modelyard.cli.uc_client import Client, ClientError

MLFLOW_ALIAS = "/api/2.0/mlflow/registered-models/alias"
NATIVE = "/api/modelyard/v1/models"

aliases = group("aliases", help="Aliases (@champion …) of a model, in either registry.")

workspace_option = click.option(
    "--workspace", is_flag=True, default=False,
    help="NAME is a workspace-registry model even though it has three parts.")


@dataclass(frozen=True)
class AliasRef:
    name: str
    alias: str
    unity_catalog: bool

    @property
    def label(self) -> str:
        return f"{self.name}@{self.alias}"

    def current(self, client: Client) -> int | None:
        """The version the alias points to now, None when it does not exist. Read from the
        model, so that a missing model is the server's own not-found error."""
        if self.unity_catalog:
            model = client.uc("GET", f"/models/{self.name}")
            pairs = [(a.get("alias_name"), a.get("version_num"))
                     for a in model.get("aliases") or []]
        else:
            model = client.call("GET", "/api/2.0/mlflow/registered-models/get",
                                {"name": self.name})["registered_model"]
            pairs = [(a.get("alias"), a.get("version")) for a in model.get("aliases") or []]
        return next((int(version) for alias, version in pairs if alias == self.alias), None)

    def set(self, client: Client, version: int) -> None:
        if self.unity_catalog:
            client.uc("PUT", f"/models/{self.name}/aliases/{self.alias}",
                      body={"version_num": version})
        else:
            client.call("POST", MLFLOW_ALIAS,
                        body={"name": self.name, "alias": self.alias, "version": str(version)})

    def delete(self, client: Client) -> None:
        if self.unity_catalog:
            client.uc("DELETE", f"/models/{self.name}/aliases/{self.alias}")
        else:
            client.call("DELETE", MLFLOW_ALIAS, body={"name": self.name, "alias": self.alias})


def parse_ref(ref: str, workspace: bool) -> AliasRef:
    name, at, alias = ref.rpartition("@")
    if not at or not name or not alias:
        raise fail(f"'{ref}' is not NAME@ALIAS, e.g. fraud-model@champion or "
                   f"main.fraud.detector@champion", 2)
    unity_catalog = not workspace and name.count(".") == 2
    return AliasRef(name.lower() if unity_catalog else name, alias, unity_catalog)


def _where(ref: AliasRef) -> str:
    return "Unity Catalog" if ref.unity_catalog else "the workspace registry"


def _run(action: Any, target: AliasRef) -> Any:
    try:
        return action()
    except ClientError as error:
        message = str(error)
        if error.status == 404 and target.unity_catalog:
            # A three-part name is read as Unity Catalog's; the workspace registry allows dots.
            message += (f"\nIf {target.name} is a workspace-registry model, add --workspace "
                        f"(a three-part name is read as a Unity Catalog model).")
        raise fail(message) from None


@aliases.command("set")
@click.argument("ref", metavar="NAME@ALIAS")
@click.argument("version", type=click.IntRange(min=1))
@workspace_option
@connection_options
def aliases_set(ref: str, version: int, workspace: bool, url: str, token: str | None) -> None:
    """Point NAME@ALIAS at VERSION (creating the alias or moving it)."""
    target = parse_ref(ref, workspace)
    client = Client(url, token)
    before = _run(lambda: target.current(client), target)
    _run(lambda: target.set(client, version), target)
    if before is None:
        change = f"created, → version {version}"
    elif before == version:
        change = f"already → version {version}"
    else:
        change = f"moved: version {before} → version {version}"
    click.echo(f"@{target.alias} of {click.style(target.name, bold=True)} ({_where(target)}): "
               f"{change}")


@aliases.command("show")
@click.argument("ref", metavar="NAME@ALIAS")
@workspace_option
@connection_options
def aliases_show(ref: str, workspace: bool, url: str, token: str | None) -> None:
    """Print the version NAME@ALIAS points to."""
    target = parse_ref(ref, workspace)
    version = _run(lambda: target.current(Client(url, token)), target)
    if version is None:
        raise fail(f"{target.label} does not exist in {_where(target)}")
    click.echo(str(version))


@aliases.command("delete")
@click.argument("ref", metavar="NAME@ALIAS")
@workspace_option
@yes_option
@connection_options
def aliases_delete(ref: str, workspace: bool, yes: bool, url: str, token: str | None) -> None:
    """Remove an alias; the version it pointed to stays."""
    target = parse_ref(ref, workspace)
    client = Client(url, token)
    before = _run(lambda: target.current(client), target)
    if before is None:
        raise fail(f"{target.label} does not exist in {_where(target)}")
    confirm(f"Delete @{target.alias} of {target.name} (now → version {before})? Whatever "
            f"loads models:/{target.label} will fail.", yes)
    _run(lambda: target.delete(client), target)
    click.echo(f"Deleted @{target.alias} of {click.style(target.name, bold=True)} "
               f"(it pointed to version {before})")


def _native(target: AliasRef) -> tuple[str, dict[str, str]]:
    """The alias's path on Modelyard's own API, and the registry it names."""
    return (f"{NATIVE}/{target.name}/aliases/{target.alias}",
            {"registry": "uc" if target.unity_catalog else "workspace"})


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@aliases.command("history")
@click.argument("ref", metavar="NAME@ALIAS")
@click.option("--max-results", type=click.IntRange(1, 1000), default=50, show_default=True)
@workspace_option
@connection_options
def aliases_history(ref: str, max_results: int, workspace: bool, url: str,
                    token: str | None) -> None:
    """Who moved NAME@ALIAS, when, from which version to which, and why (newest first)."""
    target = parse_ref(ref, workspace)
    path, query = _native(target)
    found = _run(lambda: Client(url, token).call("GET", path + "/history",
                                                 {**query, "max_results": max_results}),
                 target)
    rows = [[_when(e["time"]), e["version"] or "(removed)", e["previous_version"] or "",
             e["actor"], e["reason"] or ""] for e in found["history"]]
    if not rows:
        click.echo(f"{target.label}: no history recorded")
        return
    print_table(["time (UTC)", "version", "previous", "actor", "reason"], rows,
                title=f"History of {target.label}")


@aliases.command("rollback")
@click.argument("ref", metavar="NAME@ALIAS")
@click.option("--reason", default=None, help="Why: recorded in the history.")
@workspace_option
@connection_options
def aliases_rollback(ref: str, reason: str | None, workspace: bool, url: str,
                     token: str | None) -> None:
    """Move NAME@ALIAS back to the version it pointed to before its latest move."""
    target = parse_ref(ref, workspace)
    path, query = _native(target)
    moved = _run(lambda: Client(url, token).call("POST", path + "/rollback", query,
                                                 body={"reason": reason}), target)
    click.echo(f"@{target.alias} of {click.style(target.name, bold=True)} ({_where(target)}): "
               f"rolled back to version {moved['version']}")


def register(app: click.Group) -> None:
    app.add_command(aliases, "aliases")
