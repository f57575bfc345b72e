"""`modelyard webhooks deliveries|redeliver …`: a webhook's delivery log on a running server,
and sending one delivery again (either dialect's webhooks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from modelyard.cli.common import fail, group, print_table, token_option, url_option
from modelyard.cli.uc_client import Client, ClientError

webhooks = group("webhooks", help="Webhook deliveries: the log, and redelivery.")
DELIVERIES = "/api/modelyard/v1/webhooks/{id}/deliveries"


def _when(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(delivery: dict[str, Any]) -> list[Any]:
    latency = delivery.get("latency_ms")
    return [delivery["id"], delivery["event"], _when(delivery["created_at"]), delivery["state"],
            delivery["attempt_count"], delivery.get("status_code") or "",
            "" if latency is None else f"{latency} ms", delivery.get("error") or "",
            (delivery.get("response") or "")[:60]]


@webhooks.command("deliveries")
@click.argument("webhook_id")
@click.option("--max-results", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--attempts", is_flag=True, help="Show every attempt of each delivery.")
@url_option
@token_option
def deliveries(webhook_id: str, max_results: int, attempts: bool, url: str,
               token: str | None) -> None:
    """List the webhook's deliveries, newest first: event, time, state, attempts, the last
    status code, latency, error and the start of the answer."""
    try:
        found = Client(url, token).call("GET", DELIVERIES.format(id=webhook_id),
                                        {"max_results": max_results})
    except ClientError as error:
        raise fail(str(error)) from None
    rows = found.get("deliveries", [])
    if not rows:
        click.echo(click.style("deliveries: none", dim=True))
        return
    print_table(["ID", "EVENT", "CREATED", "STATE", "ATTEMPTS", "STATUS", "LATENCY", "ERROR",
                 "RESPONSE"], [_row(d) for d in rows], title=f"webhook {webhook_id}")
    if attempts:
        print_table(["DELIVERY", "ATTEMPT", "AT", "STATUS", "LATENCY", "ERROR"],
                    [[d["id"], a["attempt"], _when(a["at"]), a.get("status_code") or "",
                      f"{a['latency_ms']} ms", a.get("error") or ""]
                     for d in rows for a in d.get("attempts", [])], title="attempts")


@webhooks.command("redeliver")
@click.argument("webhook_id")
@click.argument("delivery_id", type=int)
@url_option
@token_option
def redeliver(webhook_id: str, delivery_id: int, url: str, token: str | None) -> None:
    """Send one delivery of the webhook again (a new delivery, same event and body)."""
    try:
        answer = Client(url, token).call(
            "POST", DELIVERIES.format(id=webhook_id) + f"/{delivery_id}/redeliver", body={})
    except ClientError as error:
        raise fail(str(error)) from None
    click.echo(f"redelivery queued as delivery {answer['delivery_id']}")


def register(app: click.Group) -> None:
    app.add_command(webhooks, "webhooks")
