"""Policies in the browser: the policies page creates and deletes them; a guarded alias move
from a model page (workspace and Unity Catalog) shows the refusal naming the policy, and works
once the version is validated; an alias request can be made from the model page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from mlflow import MlflowClient

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.api.policies.test_enforcement import REQUIRE, _tag, _uc_model
from tests.support import http_clients
from tests.support.server import ServerProcess


def _set_alias(page: Page, url: str, version: str, refused: bool = False) -> None:
    """Set @champion from the model page's form: a refusal shows beside the form (the page
    asks the server before it asks to confirm), else the move is confirmed in the dialog."""
    page.goto(url)
    form = page.locator("#alias-form")
    form.get_by_label("Alias").fill("champion")
    form.get_by_label("Version").fill(version)
    form.get_by_role("button", name="Set alias").click()
    if not refused:
        page.get_by_role("dialog").get_by_role("button", name="Move alias").click()


def test_policy_page_and_refused_alias_in_both_registries(page: Page, server: ServerProcess,
                                                          shot: Any) -> None:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    name = f"webpol-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/m1")
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        full_name, (first, _) = _uc_model(http)
        policy = f"web-{uuid.uuid4().hex[:6]}"
        uc_policy = f"webuc-{uuid.uuid4().hex[:6]}"

        page.goto(f"{server.url}/policies")
        for rule, scope in ((policy, f"workspace:{name}"), (uc_policy, full_name)):
            form = page.locator("#policy-form")
            form.get_by_label("Policy name").fill(rule)
            form.get_by_label("Scope").fill(scope)
            form.get_by_label("Alias (name or glob)").fill("champion")
            form.get_by_label("Requires").fill(REQUIRE)
            form.get_by_role("button", name="Create policy").click()
            expect(page.locator("#notice")).to_have_text(f"Policy {rule} created.")
        expect(page.locator("#policies")).to_contain_text(f"workspace:{name}")
        shot(page, "policies")
        try:
            _set_alias(page, f"{server.url}/models/{name}", "1", refused=True)
            alert = page.locator("#alias-error")
            expect(alert).to_contain_text(f"Policy '{policy}' refuses moving alias 'champion'")
            expect(alert).to_contain_text("tags.validation is not set")
            shot(page, "refused")
            client.set_model_version_tag(name, "1", "validation", "passed")
            _set_alias(page, f"{server.url}/models/{name}", "1")
            expect(page.locator("#notice")).to_have_text("@champion now points to version 1.")

            uc_page = f"{server.url}/catalogs/" + full_name.replace(".", "/")
            _set_alias(page, uc_page, str(first), refused=True)
            expect(page.locator("#alias-error")).to_contain_text(f"Policy '{uc_policy}'")
            _tag(http, full_name, first)
            _set_alias(page, uc_page, str(first))
            expect(page.locator("#notice")).to_have_text(
                f"@champion now points to version {first}.")
        finally:
            page.goto(f"{server.url}/policies")
            for rule in (policy, uc_policy):
                page.get_by_role("button", name=f"Delete policy {rule}").click()
                expect(page.locator("#notice")).to_have_text(f"Policy {rule} deleted.")
        assert all(p["name"] not in (policy, uc_policy)
                   for p in http.get("/api/modelyard/v1/policies").json()["policies"])


def test_alias_request_from_the_model_page(page: Page, server: ServerProcess) -> None:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    name = f"webreq-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/m1")
    policy = f"webreq-{uuid.uuid4().hex[:6]}"
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/api/modelyard/v1/policies", json={
            "name": policy, "scope": f"workspace:{name}", "alias": "champion",
            "require": "status = 'READY'", "approvals": 1}).status_code == 200
        try:
            page.goto(f"{server.url}/models/{name}")
            form = page.locator("#alias-request-form")
            form.get_by_label("Alias").fill("champion")
            form.get_by_label("Version").fill("1")
            form.get_by_label("Reason").fill("passed review")
            form.get_by_role("button", name="Request alias move").click()
            expect(page.locator("#notice")).to_contain_text("to move @champion to version 1")
            row = page.locator("#alias-requests tbody tr").first
            expect(row).to_contain_text("passed review")
            expect(row.locator(".state")).to_have_text("OPEN")
            # The local admin made the request: approving it is refused, cancelling works.
            row.get_by_role("button", name="Approve").click()
            expect(page.get_by_role("alert")).to_contain_text("cannot approve")
            page.goto(f"{server.url}/models/{name}")
            page.locator("#alias-requests tbody tr").first.get_by_role(
                "button", name="Cancel").click()
            expect(page.locator("#alias-requests .state").first).to_have_text("CANCELLED")
            # The version's page shows its requests with their reviews too.
            page.goto(f"{server.url}/models/{name}/versions/1")
            expect(page.locator("#alias-requests")).to_contain_text("passed review")
            expect(page.locator("#alias-requests")).to_contain_text("cancel")
            expect(page.locator("#alias-request-form")).to_have_count(0)
        finally:
            http.delete(f"/api/modelyard/v1/policies/{policy}")
