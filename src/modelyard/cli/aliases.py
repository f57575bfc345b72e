"""`modelyard aliases history|rollback|set NAME@ALIAS`: alias history on a running server.

NAME is a workspace model's name or a Unity Catalog model's three-level name. The commands
talk HTTP to `--url` (default http://127.0.0.1:8080, or MODELYARD_URL).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from modelyard.cli.common import fail, group, print_table, token_option, url_option
from modelyard.cli.uc_client import Client, ClientError

aliases = group("aliases", help="Alias history, compare-and-set moves and rollback.")
NATIVE = "/api/modelyard/v1/models"


def _split(target: str) -> tuple[str, str]:
    name, _, alias = target.rpartition("@")
    if not name or not alias:
        raise fail(f"Invalid '{target}': give MODEL@ALIAS, e.g. fraud@champion.")
    return name, alias


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@aliases.command("history")
@click.argument("target", metavar="NAME@ALIAS")
@click.option("--max-results", type=click.IntRange(1, 1000), default=50, show_default=True)
@url_option
@token_option
def history(target: str, max_results: int, url: str, token: str | None) -> None:
    """Who moved the alias, when, from where to where, and why (newest first)."""
    name, alias = _split(target)
    try:
        found = Client(url, token).call("GET", f"{NATIVE}/{name}/aliases/{alias}/history",
                                        {"max_results": max_results})
    except ClientError as error:
        raise fail(str(error)) from None
    rows = [[_when(e["time"]), e["version"] or "(removed)", e["previous_version"] or "",
             e["actor"], e["reason"] or ""] for e in found["history"]]
    if not rows:
        click.echo(f"{target}: no history")
        return
    print_table(["time (UTC)", "version", "previous", "actor", "reason"], rows,
                title=f"History of {target}")


@aliases.command("rollback")
@click.argument("target", metavar="NAME@ALIAS")
@click.option("--reason", default=None, help="Why: recorded in the history.")
@url_option
@token_option
def rollback(target: str, reason: str | None, url: str, token: str | None) -> None:
    """Move the alias back to where it pointed before its latest move."""
    name, alias = _split(target)
    try:
        moved = Client(url, token).call("POST", f"{NATIVE}/{name}/aliases/{alias}/rollback",
                                        body={"reason": reason})
    except ClientError as error:
        raise fail(str(error)) from None
    click.echo(f"{target} -> version {moved['version']}")


def register(app: click.Group) -> None:
    app.add_command(aliases, "aliases")
