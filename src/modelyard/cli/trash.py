"""`modelyard trash list|restore|purge` and `modelyard holds list|set|release`: the trash and
legal holds on a running server (issue 20), through Modelyard's own API (/api/modelyard/v1).

NAME[/VERSION] names a model or one version; a three-level name (catalog.schema.model) is a
Unity Catalog model, any other a workspace-registry one (`--workspace` for a workspace model
whose name has three parts). Refusals print the server's message and exit with status 1.
"""

from __future__ import annotations

from collections.abc import Callable
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

TRASH = "/api/modelyard/v1/trash"
HOLDS = "/api/modelyard/v1/holds"

trash = group("trash", help="Deleted models and versions: list, restore, purge.")
holds = group("holds", help="Legal holds: what can be neither deleted nor purged.")

workspace_option = click.option(
    "--workspace", is_flag=True, default=False,
    help="NAME is a workspace-registry model even though it has three parts.")


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except ClientError as error:
        raise fail(str(error)) from None


def _ref(ref: str, workspace: bool) -> dict[str, Any]:
    """The request body naming NAME[/VERSION]."""
    name, slash, version = ref.rpartition("/")
    if not slash or not version.isdigit():
        name, version = ref, ""
    if not name:
        raise fail(f"'{ref}' is not NAME or NAME/VERSION, e.g. fraud-model/3 or "
                   "main.fraud.detector", 2)
    body: dict[str, Any] = {"name": name}
    if version:
        body["version"] = version
    if workspace:
        body["registry"] = "workspace"
    return body


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _label(item: dict[str, Any]) -> str:
    return item["name"] if item.get("version") is None else f"{item['name']}/{item['version']}"


# ---- trash ------------------------------------------------------------------------------------

@trash.command("list")
@click.option("--registry", type=click.Choice(["workspace", "uc"]), default=None,
              help="Only this registry's items.")
@connection_options
def trash_list(registry: str | None, url: str, token: str | None) -> None:
    """List what is in the trash (yours; everything for an admin)."""
    def show() -> None:
        query = {"registry": registry} if registry else None
        found = Client(url, token).call("GET", TRASH, query).get("items", [])
        if not found:
            click.echo(click.style("Trash: empty", dim=True))
            return
        print_table(["name", "registry", "deleted by", "deleted", "purged after"], (
            [_label(i), i["registry"], i["deleted_by"], _when(i["deleted_at"]),
             _when(i["expires_at"])] for i in found), title="Trash")
    _run(show)


@trash.command("restore")
@click.argument("ref", metavar="NAME[/VERSION]")
@workspace_option
@connection_options
def trash_restore(ref: str, workspace: bool, url: str, token: str | None) -> None:
    """Bring back a deleted model (with its versions) or version."""
    def restore() -> None:
        item = Client(url, token).call("POST", f"{TRASH}/restore",
                                       body=_ref(ref, workspace))["restored"]
        click.echo(f"Restored {_label(item)}.")
    _run(restore)


@trash.command("purge")
@click.argument("ref", metavar="NAME[/VERSION]")
@workspace_option
@yes_option
@connection_options
def trash_purge(ref: str, workspace: bool, yes: bool, url: str, token: str | None) -> None:
    """Remove a deleted model or version for good: its rows and its files."""
    confirm(f"Purge {ref} from the trash for good, files included?", yes)

    def purge() -> None:
        purged = Client(url, token).call("POST", f"{TRASH}/purge",
                                         body=_ref(ref, workspace))["purged"]
        click.echo(f"Purged {', '.join(_label(i) for i in purged)}.")
    _run(purge)


# ---- holds ------------------------------------------------------------------------------------

@holds.command("list")
@connection_options
def holds_list(url: str, token: str | None) -> None:
    """List legal holds."""
    def show() -> None:
        found = Client(url, token).call("GET", HOLDS).get("holds", [])
        if not found:
            click.echo(click.style("Legal holds: none", dim=True))
            return
        print_table(["name", "registry", "reason", "set by", "since"], (
            [_label(h), h["registry"], h["reason"], h["created_by"], _when(h["created_at"])]
            for h in found), title="Legal holds")
    _run(show)


@holds.command("set")
@click.argument("ref", metavar="NAME[/VERSION]")
@click.option("--reason", required=True, help="Why: the matter the hold preserves it for.")
@workspace_option
@connection_options
def holds_set(ref: str, reason: str, workspace: bool, url: str, token: str | None) -> None:
    """Put a model or version under legal hold: it cannot be deleted or purged."""
    def run() -> None:
        hold = Client(url, token).call("POST", HOLDS,
                                       body={**_ref(ref, workspace), "reason": reason})["hold"]
        click.echo(f"Legal hold set on {_label(hold)}.")
    _run(run)


@holds.command("release")
@click.argument("ref", metavar="NAME[/VERSION]")
@workspace_option
@connection_options
def holds_release(ref: str, workspace: bool, url: str, token: str | None) -> None:
    """Release a legal hold."""
    def run() -> None:
        hold = Client(url, token).call("POST", f"{HOLDS}/release",
                                       body=_ref(ref, workspace))["released"]
        click.echo(f"Legal hold on {_label(hold)} released.")
    _run(run)


def register(app: click.Group) -> None:
    app.add_command(trash, "trash")
    app.add_command(holds, "holds")
