"""The model page's History tab: alias moves with who, when and why, and rollback."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.api.history.conftest import NATIVE, workspace_model
from tests.support import http_clients
from tests.support.server import ServerProcess


def test_history_tab_shows_moves_and_rolls_back(page: Page, server: ServerProcess,
                                                shot: Any) -> None:
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        name = workspace_model(http, 2)
        for version, reason in (("1", "first"), ("2", "nightly promotion")):
            moved = http.put(f"{NATIVE}/{name}/aliases/champion",
                             json={"version": version, "reason": reason})
            assert moved.status_code == 200, moved.text
    page.goto(f"{server.url}/models/{name}?tab=history")
    rows = page.locator("#history tbody tr")
    expect(rows.first).to_contain_text("@champion")
    expect(rows.first).to_contain_text("nightly promotion")
    shot(page, "history")
    page.get_by_label("Reason for rolling back @champion").fill("bad metrics")
    page.get_by_role("button", name="Roll back @champion to version 1").click()
    expect(page.locator("#notice")).to_have_text("@champion rolled back to version 1.")
    expect(rows.first).to_contain_text("bad metrics")
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        now = http.get(f"{NATIVE}/{name}/aliases/champion").json()
        assert now["version"] == "1" and now["reason"] == "bad metrics"
    shot(page, "rolled-back")
