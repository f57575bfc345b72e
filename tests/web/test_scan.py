"""The model scan on the Unity Catalog version page: the status, the findings naming the call,
and the Scan again button."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.api.scans.test_scan import RunsCommand, _model, _register
from tests.support import http_clients
from tests.support.server import ServerProcess


def test_version_page_shows_the_scan_and_scans_again(page: Page, server: ServerProcess,
                                                     shot: Any) -> None:
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        full_name = _model(http)
        unsafe, _ = _register(http, full_name, {"model.pkl": pickle.dumps(RunsCommand())})
        clean, _ = _register(http, full_name, {"weights.pkl": pickle.dumps([1.0])})
    _, schema, _ = full_name.split(".")
    page.goto(f"{server.url}/catalogs/main/{schema}/m/versions/{unsafe}")
    expect(page.locator("#scan-status")).to_have_text("UNSAFE")
    findings = page.locator("#scan-findings")
    expect(findings).to_contain_text("CRITICAL")
    expect(findings).to_contain_text("posix.system")
    expect(findings).to_contain_text("model.pkl")
    shot(page, "scan-unsafe")
    page.get_by_role("button", name="Scan again").click()
    expect(page.locator("#notice")).to_have_text("Scanned again: UNSAFE.")
    page.goto(f"{server.url}/catalogs/main/{schema}/m/versions/{clean}")
    expect(page.locator("#scan-status")).to_have_text("CLEAN")
