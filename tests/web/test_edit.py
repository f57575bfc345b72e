"""Changing things in the browser: description, alias (with confirmation), compare, stages."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.api.identity.conftest import AuthServer
from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.web.test_auth import make_model, sign_in_with_token


@pytest.fixture()
def registry(server: ServerProcess) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


@pytest.fixture()
def model(registry: MlflowClient, prefix: str) -> str:
    """A model with two versions from different runs; @champion on version 1."""
    name = f"{prefix}-model"
    registry.create_registered_model(name, description="old text")
    registry.create_model_version(name, "runs:/run-a/model", run_id="run-a",
                                  tags={"quality": "good"})
    registry.create_model_version(name, "runs:/run-b/model", run_id="run-b",
                                  tags={"quality": "better"})
    registry.set_registered_model_alias(name, "champion", "1")
    return name


def test_edit_description_renders_markdown(page: Page, server: ServerProcess,
                                           registry: MlflowClient, model: str,
                                           shot: Any) -> None:
    page.goto(f"{server.url}/models/{model}")
    page.get_by_text("Edit description").click()
    page.get_by_label("Description (Markdown)").fill(
        "Predicts **fraud**.\n\n<script>window.pwned = 1</script>")
    page.get_by_role("button", name="Save description").click()
    expect(page.locator("#notice")).to_have_text("Description saved.")
    description = page.locator("#description")
    expect(description.locator("strong")).to_have_text("fraud")
    expect(description).to_contain_text("<script>")  # shown as text, never run
    assert page.evaluate("window.pwned") is None
    assert registry.get_registered_model(model).description.startswith("Predicts **fraud**.")
    shot(page, "saved")


def test_move_alias_after_confirming_old_to_new(page: Page, server: ServerProcess,
                                                registry: MlflowClient, model: str,
                                                shot: Any) -> None:
    page.goto(f"{server.url}/models/{model}")
    form = page.locator("#alias-form")
    form.get_by_label("Alias").fill("champion")
    form.get_by_label("Version").fill("2")
    form.get_by_role("button", name="Set alias").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("version 1 → version 2")
    shot(page, "confirm")
    # Cancelling leaves the alias where it was.
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert registry.get_model_version_by_alias(model, "champion").version == "1"

    form.get_by_role("button", name="Set alias").click()
    page.get_by_role("dialog").get_by_role("button", name="Move alias").click()
    expect(page.locator("#notice")).to_have_text("@champion now points to version 2.")
    expect(page.locator("#aliases")).to_contain_text("@champion → version 2")
    assert registry.get_model_version_by_alias(model, "champion").version == "2"
    shot(page, "moved")


def test_compare_two_versions(page: Page, server: ServerProcess, model: str,
                              shot: Any) -> None:
    page.goto(f"{server.url}/models/{model}")
    page.get_by_label("Compare version 1").check()
    page.get_by_label("Compare version 2").check()
    page.get_by_role("button", name="Compare selected versions").click()
    table = page.locator("#compare")
    expect(table.locator("thead")).to_contain_text("Version 1")
    expect(table.locator("thead")).to_contain_text("Version 2")
    run_row = table.locator("tr", has=page.get_by_role("rowheader", name="Run id"))
    expect(run_row).to_have_class("differs")
    expect(run_row).to_contain_text("run-a")
    expect(run_row).to_contain_text("run-b")
    expect(table.locator("tr.differs", has_text="tag: quality")).to_contain_text("better")
    status_row = table.locator("tr", has=page.get_by_role("rowheader", name="Status"))
    expect(status_row).not_to_have_class("differs")
    shot(page, "compare")


def test_set_and_clear_tag_and_move_stage(page: Page, server: ServerProcess,
                                          registry: MlflowClient, model: str,
                                          shot: Any) -> None:
    page.goto(f"{server.url}/models/{model}/versions/2")
    page.get_by_label("Key").fill("owner-team")
    page.get_by_label("Value").fill("risk")
    page.get_by_role("button", name="Set tag").click()
    expect(page.locator("#notice")).to_have_text("Tag owner-team set.")
    assert registry.get_model_version(model, "2").tags["owner-team"] == "risk"
    page.get_by_role("button", name="Remove tag owner-team").click()
    assert "owner-team" not in registry.get_model_version(model, "2").tags

    page.get_by_label("New stage").select_option("Staging")
    page.get_by_role("button", name="Move now").click()
    expect(page.locator("#stage")).to_have_text("Staging")
    assert registry.get_model_version(model, "2").current_stage == "Staging"
    page.get_by_label("Add a comment").fill("Ready for **shadow** traffic")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator("#activities")).to_contain_text("Ready for **shadow** traffic")
    page.locator("#activities").get_by_role("button", name="Delete").click()
    expect(page.locator("#notice")).to_have_text("Comment deleted.")
    expect(page.locator("#activities")).not_to_contain_text("shadow")

    page.get_by_role("button", name="Copy").click()
    expect(page.locator(".copied")).not_to_be_empty()
    shot(page, "staged")


def test_grant_a_permission_level(page: Page, server: ServerProcess, model: str,
                                  shot: Any) -> None:
    page.goto(f"{server.url}/models/{model}")
    page.get_by_role("link", name="Permissions").click()
    page.get_by_label("User or group").fill("users")
    page.get_by_label("Level").select_option("CAN_READ")
    page.get_by_role("button", name="Grant").click()
    expect(page.locator("#notice")).to_have_text("Permission granted.")
    row = page.locator("#permissions tr", has_text="users")
    expect(row).to_contain_text("CAN_READ")
    shot(page, "granted")


def test_grant_and_revoke_on_a_unity_catalog_model(page: Page, server: ServerProcess,
                                                   prefix: str, shot: Any) -> None:
    uc = "/api/2.1/unity-catalog"
    with http_clients.Client(base_url=server.url + uc) as http:
        assert http.post("/schemas", json={"catalog_name": "main",
                                           "name": f"g_{prefix}"}).status_code == 200
        assert http.post("/models", json={"catalog_name": "main", "schema_name": f"g_{prefix}",
                                          "name": "m"}).status_code == 200
    page.goto(f"{server.url}/catalogs/main/g_{prefix}/m?tab=permissions")
    page.get_by_label("User or group").fill("users")
    page.get_by_label("Privilege").select_option("EXECUTE")
    page.get_by_role("button", name="Grant").click()
    expect(page.locator("#notice")).to_have_text("EXECUTE granted.")
    expect(page.locator("#grants tr", has_text="users")).to_contain_text("EXECUTE")
    with http_clients.Client(base_url=server.url + uc) as http:
        listed = http.get(f"/permissions/function/main.g_{prefix}.m").json()
    assert {"principal": "users", "privileges": ["EXECUTE"]} in [
        {"principal": a["principal"], "privileges": a["privileges"]}
        for a in listed["privilege_assignments"]]
    shot(page, "granted")
    page.get_by_role("button", name="Revoke EXECUTE from users").click()
    expect(page.locator("#notice")).to_have_text("EXECUTE revoked.")
    expect(page.locator("main")).not_to_contain_text("Revoke EXECUTE")


def test_alias_form_checks_the_version_before_asking(page: Page, server: ServerProcess,
                                                     registry: MlflowClient, model: str) -> None:
    page.goto(f"{server.url}/models/{model}")
    form = page.locator("#alias-form")
    form.get_by_label("Alias").fill("champion")
    form.get_by_label("Version").fill("7")
    form.get_by_role("button", name="Set alias").click()
    error = page.locator("#alias-error")
    expect(error).to_contain_text("version=7")
    expect(error).to_contain_text("not found")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(form.get_by_label("Version")).to_be_focused()
    assert registry.get_model_version_by_alias(model, "champion").version == "1"

    form.get_by_label("Version").fill("2")
    form.get_by_role("button", name="Set alias").click()
    expect(error).to_be_hidden()
    expect(page.get_by_role("dialog")).to_contain_text("version 1 → version 2")


def test_delete_a_model_after_confirming(page: Page, server: ServerProcess,
                                         registry: MlflowClient, model: str) -> None:
    page.goto(f"{server.url}/models/{model}")
    page.get_by_text("Delete this model", exact=True).click()
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    delete = page.locator("#delete-zone").get_by_role("button", name="Delete model")
    delete.click()  # dismissed: nothing happens
    expect(page.get_by_role("heading", level=1)).to_have_text(model)
    assert registry.get_registered_model(model).name == model
    delete.click()
    expect(page.locator("#notice")).to_have_text(f"Model {model} deleted.")
    assert asked[0].startswith(f"Delete model {model}")
    assert registry.search_registered_models(f"name = '{model}'") == []


def test_readers_are_not_offered_deletion(page: Page, web_auth_server: AuthServer,
                                          prefix: str) -> None:
    name = f"{prefix}-kept"
    make_model(web_auth_server, name)
    reader = web_auth_server.new_user("reader")
    web_auth_server.set_level(name, reader.name, "CAN_EDIT")
    sign_in_with_token(page, web_auth_server, reader, f"/models/{name}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator("#alias-form")).to_have_count(1)  # CAN_EDIT may move aliases
    expect(page.locator("#delete-zone")).to_have_count(0)  # deleting needs CAN_MANAGE
