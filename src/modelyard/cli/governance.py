"""`modelyard policies …` and `modelyard aliases …`: promotion policies and alias requests on a
running server (issue 20).

Policies and requests use Modelyard's own API (/api/modelyard/v1); `aliases set` moves an alias
through the registry's own API: Unity Catalog's for a three-level name, MLflow's otherwise.
Refusals (a policy, a missing privilege) print the server's message and exit with status 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from modelyard.cli.common import fail, group, print_details, print_table, token_option, url_option
from modelyard.cli.uc_client import Client, ClientError

policies = group("policies", help="Promotion policies: what may carry an alias or enter a "
                                  "stage.")
aliases = group("aliases", help="Move aliases; request, approve, reject and cancel moves that "
                                "a policy puts under approval.")

POLICIES = "/api/modelyard/v1/policies"
REQUESTS = "/api/modelyard/v1/models/{name}/aliases/{alias}/requests"


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except ClientError as error:
        raise fail(str(error)) from None


def _is_uc(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 3 and all(parts)


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
@url_option
@token_option
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
@url_option
@token_option
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
@url_option
@token_option
def policies_delete(name: str, url: str, token: str | None) -> None:
    """Delete a policy."""
    def delete() -> None:
        Client(url, token).call("DELETE", f"{POLICIES}/{name}")
        click.echo(f"Deleted policy {name}.")
    _run(delete)


def _guards(p: dict[str, Any]) -> str:
    return f"@{p['alias']}" if p.get("alias") else f"stage {p.get('stage')}"


def _policy_fields(p: dict[str, Any]) -> dict[str, Any]:
    return {"scope": p["scope"], "guards": _guards(p), "require": p["require"],
            "approvals": p["approvals"] or None}


# ---- aliases ----------------------------------------------------------------------------------

@aliases.command("set")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@url_option
@token_option
def aliases_set(name: str, alias: str, version: int, url: str, token: str | None) -> None:
    """Point NAME@ALIAS at VERSION (a Unity Catalog model for catalog.schema.model, else a
    workspace model)."""
    def move() -> None:
        client = Client(url, token)
        if _is_uc(name):
            client.uc("PUT", f"/models/{name}/aliases/{alias}", body={"version_num": version})
        else:
            client.call("POST", "/api/2.0/mlflow/registered-models/alias",
                        body={"name": name, "alias": alias, "version": str(version)})
        click.echo(f"{name}@{alias} → {version}")
    _run(move)


@aliases.command("request")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@click.option("--reason", default="", help="Why the alias should move.")
@url_option
@token_option
def aliases_request(name: str, alias: str, version: int, reason: str, url: str,
                    token: str | None) -> None:
    """Ask for NAME@ALIAS to move to VERSION, when a policy requires approvals."""
    def create() -> None:
        r = Client(url, token).call("POST", REQUESTS.format(name=name, alias=alias),
                                    body={"version": str(version), "reason": reason})["request"]
        click.echo(f"Request {r['id']}: {name}@{alias} → {r['version']}, needs "
                   f"{r['approvals_needed']} approval(s) (policy {r['policy']}).")
    _run(create)


@aliases.command("requests")
@click.argument("name")
@click.argument("alias")
@url_option
@token_option
def aliases_requests(name: str, alias: str, url: str, token: str | None) -> None:
    """List the requests to move NAME@ALIAS."""
    def show() -> None:
        found = Client(url, token).call("GET", REQUESTS.format(name=name, alias=alias))
        rows = [[r["id"], r["version"], r["state"], r["requested_by"],
                 f"{len(r['approved_by'])}/{r['approvals_needed']}",
                 ", ".join(r["approved_by"]), r["reason"]] for r in found.get("requests", [])]
        if not rows:
            click.echo(click.style("Requests: none", dim=True))
            return
        print_table(["id", "version", "state", "requested by", "approvals", "approved by",
                     "reason"], rows, title=f"Requests for {name}@{alias}")
    _run(show)


def _step(step: str, doc: str) -> None:
    @aliases.command(step)
    @click.argument("name")
    @click.argument("alias")
    @click.argument("request_id")
    @click.option("--comment", default="", help="A comment recorded with the step.")
    @url_option
    @token_option
    def command(name: str, alias: str, request_id: str, comment: str, url: str,
                token: str | None) -> None:
        def run() -> None:
            r = Client(url, token).call(
                "POST", REQUESTS.format(name=name, alias=alias) + f"/{request_id}/{step}",
                body={"comment": comment})["request"]
            click.echo(f"Request {r['id']} ({name}@{alias} → {r['version']}): {r['state']}, "
                       f"{len(r['approved_by'])}/{r['approvals_needed']} approval(s).")
        _run(run)
    command.help = doc


_step("approve", "Approve a request; the last approval needed moves the alias.")
_step("reject", "Reject a request; the alias stays where it is.")
_step("cancel", "Withdraw your own request.")


def register(app: click.Group) -> None:
    app.add_command(policies, "policies")
    app.add_command(aliases, "aliases")
