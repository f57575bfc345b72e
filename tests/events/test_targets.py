"""The allow-list at creation (after DNS resolution) and at delivery (the connected peer),
with real sockets: a receiver on 127.0.0.1 is reached only when listed, and a name that
resolves to a private address is refused although the name itself looks harmless."""

from __future__ import annotations

import pytest

from modelyard.domain.errors import InvalidArgument
from modelyard.domain.webhook_targets import AllowList
from modelyard.domain.webhooks import Dialect, HttpTarget, Webhook, WebhookStatus
from modelyard.events.targets import check_url
from modelyard.events.webhooks import post
from tests.support.receiver import Receiver


def _hook(url: str) -> Webhook:
    return Webhook(id="h", model_name=None, events=(), status=WebhookStatus.ACTIVE,
                   description="", target=HttpTarget(url, "s"), creation_timestamp=0,
                   last_updated_timestamp=0, dialect=Dialect.MLFLOW, name="h")


def test_creation_check_resolves_names() -> None:
    with pytest.raises(InvalidArgument, match=r"resolves to 127\.0\.0\.1"):
        check_url("http://localhost:9/x", AllowList())
    with pytest.raises(InvalidArgument, match=r"169\.254\.169\.254"):
        check_url("http://169.254.169.254/latest/meta-data", AllowList())
    with pytest.raises(InvalidArgument, match=r"::ffff:a00:1|10\.0\.0\.1"):
        check_url("http://[::ffff:10.0.0.1]/", AllowList())  # IPv4 wrapped in IPv6
    check_url("http://localhost:9/x", AllowList.parse("localhost"))
    check_url("http://127.0.0.1:9/x", AllowList.parse("127.0.0.0/8"))
    check_url("http://8.8.8.8/x", AllowList())  # public


def test_delivery_checks_the_connected_peer() -> None:
    with Receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        for url in (receiver.url, f"http://localhost:{port}/hook"):
            outcome = post(_hook(url), b"{}", 2.0, AllowList(), "d-1")
            assert outcome.refused and outcome.status_code is None
            assert "not a public address" in (outcome.error or "")
        assert receiver.requests == []  # refused before a byte was sent
        allowed = post(_hook(receiver.url), b"{}", 2.0, AllowList.parse("127.0.0.1"), "d-2")
        assert allowed.ok and len(receiver.requests) == 1


def test_redirects_are_not_followed() -> None:
    with Receiver(status=302, reply="") as receiver:
        outcome = post(_hook(receiver.url), b"{}", 2.0, AllowList.parse("127.0.0.1"), "d")
        assert outcome.status_code == 302 and not outcome.ok
        assert len(receiver.requests) == 1


def test_allow_list_parsing() -> None:
    allow = AllowList.parse(" Hooks.Internal. , 10.0.0.0/8, ::1 ,")
    assert allow.permits_name("hooks.internal") and not allow.permits_name("other")
    with pytest.raises(ValueError, match="neither"):
        AllowList.parse("bad/entry/x")
