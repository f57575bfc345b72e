"""`modelyard versions scan NAME VERSION`: the model scan of a Unity Catalog version (issue 20
item 3), through Modelyard's own API. Scans the version's files again and prints the result;
`--stored` prints the stored one without scanning. Exits with status 1 when the version is
UNSAFE (as a virus scanner does, so a script can stop on it), 0 otherwise.
"""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli.common import connection_options, fail, print_details, print_table
from modelyard.cli.uc import versions
from modelyard.cli.uc_client import Client, ClientError

_COLORS = {"CLEAN": "green", "UNSAFE": "red", "NOT_SCANNED": "yellow"}


@click.command("scan")
@click.argument("full_name")
@click.argument("version", type=int)
@click.option("--stored", is_flag=True,
              help="Print the result stored at finalize (or the last scan); do not scan again.")
@connection_options
def versions_scan(full_name: str, version: int, stored: bool, url: str,
                  token: str | None) -> None:
    """Scan a version's files for code that runs when the model is loaded (pickles that call
    os.system, subprocess, eval ...; Keras Lambda layers) and print the findings."""
    try:
        answer = Client(url, token, timeout=3600).scan(full_name, version, again=not stored)
    except ClientError as error:
        raise fail(str(error)) from None
    scan: dict[str, Any] = answer["scan"]
    status = scan["status"]
    print_details(f"{full_name} version {version}", {
        "scan": click.style(status, fg=_COLORS.get(status), bold=True),
        "reason": scan.get("reason"), "scanner": scan.get("scanner"),
        "files scanned": scan.get("files_scanned"),
        "bytes read": f"{scan.get('bytes_read', 0):,}" if scan.get("scanner") else None})
    findings = scan.get("findings") or []
    if findings:
        print_table(["severity", "call", "file", "message"],
                    ([f["severity"], f["call"], f["file"], f["message"]] for f in findings),
                    title="Findings")
    if scan.get("more_findings"):
        click.echo(f"… and {scan['more_findings']} more findings")
    if status == "UNSAFE":
        raise click.exceptions.Exit(1)


def register(app: click.Group) -> None:
    """`scan` joins the `versions` group (cli/uc.py)."""
    versions.add_command(versions_scan, "scan")
