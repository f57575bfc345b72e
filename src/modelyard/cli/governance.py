"""`modelyard policies …` and `modelyard aliases request|requests|approve|reject|cancel`:
promotion policies and alias requests on a running server (issue 20), through Modelyard's own
API (/api/modelyard/v1). Refusals (a policy, a missing privilege) print the server's message
and exit with status 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from modelyard.cli.aliases import AliasRef, aliases, parse_ref, workspace_option
from modelyard.cli.common import (
    confirm,
    connection_options,
    fail,
    group,
    print_details,
    print_table,
    yes_option,
)
from modelyard.cli.uc_client import Client, ClientError

policies = group("policies", help="Promotion policies: what may carry an alias or enter a "
                                  "stage.")

POLICIES = "/api/modelyard/v1/policies"
REQUESTS = "/api/modelyard/v1/models/{name}/aliases/{alias}/requests"


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except ClientError as error:
        raise fail(str(error)) from None


# ---- policies ---------------------------------------------------------------------------------

@policies.command("create")
@click.argument("name")
@click.option("--scope", required=True,
              help="'*', 'workspace', 'workspace:<model>', '<catalog>', '<catalog>.<schema>' or "
                   "'<catalog>.<schema>.<model>'.")
@click.option("--alias", default=None, help="The alias name or glob guarded, e.g. champion or "
                                            "'prod-*'.")
@click.option("--stage", default=None, help="The target stage guarded, e.g. Production.")
@click.option("--require", required=True,
              help="The condition, in the search filter grammar, e.g. "
                   "\"tags.validation = 'passed' AND scan = 'CLEAN'\".")
@click.option("--approvals", type=int, default=0, show_default=True,
              help="Approvals a move of the alias needs (alias policies only).")
@connection_options
def policies_create(name: str, scope: str, alias: str | None, stage: str | None, require: str,
                    approvals: int, url: str, token: str | None) -> None:
    """Create a policy."""
    def create() -> None:
        body: dict[str, Any] = {"name": name, "scope": scope, "require": require,
                                "approvals": approvals}
        if alias:
            body["alias"] = alias
        if stage:
            body["stage"] = stage
        p = Client(url, token).call("POST", POLICIES, body=body)["policy"]
        print_details(f"Policy {p['name']} created", _policy_fields(p))
    _run(create)


@policies.command("list")
@connection_options
def policies_list(url: str, token: str | None) -> None:
    """List policies."""
    def show() -> None:
        found = Client(url, token).call("GET", POLICIES).get("policies", [])
        if not found:
            click.echo(click.style("Policies: none", dim=True))
            return
        print_table(["name", "scope", "guards", "require", "approvals", "created by"], (
            [p["name"], p["scope"], _guards(p), p["require"], p["approvals"], p["created_by"]]
            for p in found), title="Policies")
    _run(show)


@policies.command("delete")
@click.argument("name")
@yes_option
@connection_options
def policies_delete(name: str, yes: bool, url: str, token: str | None) -> None:
    """Delete a policy: what it guards can then be moved freely."""
    confirm(f"Delete policy {name}? What it guards can then be moved without its check.", yes)

    def delete() -> None:
        Client(url, token).call("DELETE", f"{POLICIES}/{name}")
        click.echo(f"Deleted policy {name}.")
    _run(delete)


def _guards(p: dict[str, Any]) -> str:
    return f"@{p['alias']}" if p.get("alias") else f"stage {p.get('stage')}"


def _policy_fields(p: dict[str, Any]) -> dict[str, Any]:
    return {"scope": p["scope"], "guards": _guards(p), "require": p["require"],
            "approvals": p["approvals"] or None}


# ---- alias requests (commands of `modelyard aliases`, cli/aliases.py) ------------------------

def _requests_path(ref: str, workspace: bool) -> tuple[AliasRef, str]:
    target = parse_ref(ref, workspace)
    return target, REQUESTS.format(name=target.name, alias=target.alias)


@aliases.command("request")
@click.argument("ref", metavar="NAME@ALIAS")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--reason", default="", help="Why the alias should move.")
@workspace_option
@connection_options
def aliases_request(ref: str, version: int, reason: str, workspace: bool, url: str,
                    token: str | None) -> None:
    """Ask for NAME@ALIAS to move to VERSION, when a policy requires approvals."""
    target, path = _requests_path(ref, workspace)

    def create() -> None:
        r = Client(url, token).call("POST", path, body={"version": str(version),
                                                         "reason": reason})["request"]
        click.echo(f"Request {r['id']}: {target.label} → {r['version']}, needs "
                   f"{r['approvals_needed']} approval(s) (policy {r['policy']}).")
    _run(create)


@aliases.command("requests")
@click.argument("ref", metavar="NAME@ALIAS")
@workspace_option
@connection_options
def aliases_requests(ref: str, workspace: bool, url: str, token: str | None) -> None:
    """List the requests to move NAME@ALIAS."""
    target, path = _requests_path(ref, workspace)

    def show() -> None:
        found = Client(url, token).call("GET", path)
        rows = [[r["id"], r["version"], r["state"], r["requested_by"],
                 f"{len(r['approved_by'])}/{r['approvals_needed']}",
                 ", ".join(r["approved_by"]), r["reason"]] for r in found.get("requests", [])]
        if not rows:
            click.echo(click.style("Requests: none", dim=True))
            return
        print_table(["id", "version", "state", "requested by", "approvals", "approved by",
                     "reason"], rows, title=f"Requests for {target.label}")
    _run(show)


def _step(step: str, doc: str) -> None:
    @aliases.command(step, help=doc)
    @click.argument("ref", metavar="NAME@ALIAS")
    @click.argument("request_id")
    @click.option("--comment", default="", help="A comment recorded with the step.")
    @workspace_option
    @connection_options
    def command(ref: str, request_id: str, comment: str, workspace: bool, url: str,
                token: str | None) -> None:
        target, path = _requests_path(ref, workspace)

        def run() -> None:
            r = Client(url, token).call("POST", f"{path}/{request_id}/{step}",
                                        body={"comment": comment})["request"]
            click.echo(f"Request {r['id']} ({target.label} → {r['version']}): {r['state']}, "
                       f"{len(r['approved_by'])}/{r['approvals_needed']} approval(s).")
        _run(run)


_step("approve", "Approve request REQUEST_ID; the last approval needed moves the alias.")
_step("reject", "Reject request REQUEST_ID; the alias stays where it is.")
_step("cancel", "Withdraw your own request REQUEST_ID.")


def register(app: click.Group) -> None:
    """`policies`; the request commands join `aliases` (registered by cli/aliases.py)."""
    app.add_command(policies, "policies")
