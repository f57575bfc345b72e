"""Unity Catalog in the browser: creating and deleting catalogs, schemas, models and versions
(offered only to those allowed), versions newest first, the activity tab, and the alias form
asking the server about the version before it asks to confirm."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.api.identity.conftest import AuthServer
from tests.support import http_clients
from tests.support.cli import run_cli
from tests.support.server import ServerProcess
from tests.web.test_accessibility import AUDIT
from tests.web.test_auth import sign_in_with_token

UC = "/api/2.1/unity-catalog"
MLMODEL = """flavors: {}
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: '[{"type": "double", "required": true}]'
"""


def _create(page: Page, what: str, name: str, comment: str = "") -> None:
    page.get_by_text(f"Create a {what}", exact=True).click()
    form = page.locator(f"#create-{what} form")
    form.get_by_label("Name").fill(name)
    if comment:
        form.get_by_label("Comment").fill(comment)
    form.get_by_role("button", name=f"Create {what}").click()


def _delete(page: Page, what: str, force: bool = False) -> None:
    page.get_by_text(f"Delete this {what}", exact=True).click()
    if force:
        page.get_by_label("Also delete").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#delete-zone").get_by_role("button", name=f"Delete {what}").click()


def test_create_browse_and_delete_everything(page: Page, server: ServerProcess, tmp_path: Path,
                                             shot: Any) -> None:
    catalog = f"web_{uuid.uuid4().hex[:8]}"
    page.goto(server.url + "/catalogs")
    _create(page, "catalog", catalog, "made in the browser")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Catalog {catalog}")
    expect(page.locator("#notice")).to_have_text(f"Catalog {catalog} created.")
    _create(page, "schema", "fraud")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Schema {catalog}.fraud")
    _create(page, "model", "detector", "finds fraud")
    name = f"{catalog}.fraud.detector"
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    assert page.evaluate(AUDIT) == []
    shot(page, "created")

    # Two READY versions and one still pending (created, never finalized).
    source = tmp_path / "model"
    source.mkdir()
    (source / "MLmodel").write_text(MLMODEL)
    run_cli("versions", "create", name, str(source), url=server.url)
    run_cli("versions", "create", name, str(source), url=server.url)
    with http_clients.Client(base_url=server.url + UC) as uc:
        pending = uc.post("/models/versions", json={
            "catalog_name": catalog, "schema_name": "fraud", "model_name": "detector",
            "source": "file:///nowhere"})
        assert pending.status_code == 200, pending.text
    page.reload()
    numbers = page.locator("#versions tbody tr td:nth-child(2)").all_inner_texts()
    assert numbers == ["Version 3", "Version 2", "Version 1"]

    # The alias form asks the server first: no such version, or one that cannot carry it.
    form = page.locator("#alias-form")
    form.get_by_label("Alias").fill("champion")
    form.get_by_label("Version").fill("9")
    form.get_by_role("button", name="Set alias").click()
    expect(page.locator("#alias-error")).to_contain_text("9")
    expect(page.get_by_role("dialog")).to_be_hidden()
    form.get_by_label("Version").fill("3")
    form.get_by_role("button", name="Set alias").click()
    expect(page.locator("#alias-error")).to_contain_text("PENDING_REGISTRATION")
    expect(page.get_by_role("dialog")).to_be_hidden()
    form.get_by_label("Version").fill("2")
    form.get_by_role("button", name="Set alias").click()
    expect(page.locator("#alias-error")).to_be_hidden()
    expect(page.get_by_role("dialog")).to_contain_text("Create @champion pointing to version 2")
    page.get_by_role("dialog").get_by_role("button", name="Move alias").click()
    expect(page.locator("#aliases")).to_contain_text("@champion → version 2")

    page.get_by_role("link", name="Activity").click()
    activity = page.locator("#activity")
    expect(activity).to_contain_text("registered_model.set_alias")
    expect(activity.locator("li").first).to_contain_text("set_alias")  # newest first
    expect(activity).to_contain_text("registered_model.create")
    shot(page, "activity")

    page.goto(f"{server.url}/catalogs/{catalog}/fraud/detector/versions/3")
    _delete(page, "version")
    expect(page.locator("#notice")).to_have_text("Version 3 deleted.")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    _delete(page, "model")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Schema {catalog}.fraud")
    expect(page.locator("#notice")).to_have_text(f"Model {name} deleted.")

    # A catalog with something in it goes only with its contents, when asked.
    page.goto(f"{server.url}/catalogs/{catalog}")
    _delete(page, "catalog")
    expect(page.get_by_role("alert")).to_contain_text(catalog)
    page.goto(f"{server.url}/catalogs/{catalog}")
    _delete(page, "catalog", force=True)
    expect(page.locator("#notice")).to_have_text(f"Catalog {catalog} deleted.")
    with http_clients.Client(base_url=server.url + UC) as uc:
        assert uc.get(f"/catalogs/{catalog}").status_code == 404


def test_forms_follow_privileges(page: Page, web_auth_server: AuthServer) -> None:
    server = web_auth_server
    catalog = f"web_{uuid.uuid4().hex[:8]}"
    user = server.new_user("browser")
    with server.admin() as admin:
        assert admin.post(f"{UC}/catalogs", json={"name": catalog}).is_success
        assert admin.post(f"{UC}/schemas", json={"catalog_name": catalog,
                                                  "name": "s"}).is_success
        granted = admin.patch(f"{UC}/permissions/catalog/{catalog}", json={"changes": [
            {"principal": user.name, "add": ["USE_CATALOG", "USE_SCHEMA"]}]})
        assert granted.is_success, granted.text

    sign_in_with_token(page, server, user, "/catalogs")
    expect(page.locator("#create-catalog")).to_have_count(0)
    page.goto(f"{server.url}/catalogs/{catalog}")
    expect(page.locator("#create-schema")).to_have_count(0)
    expect(page.locator("#delete-zone")).to_have_count(0)
    page.goto(f"{server.url}/catalogs/{catalog}/s")
    expect(page.locator("#create-model")).to_have_count(0)
    expect(page.locator("#delete-zone")).to_have_count(0)

    with server.admin() as admin:
        admin.patch(f"{UC}/permissions/schema/{catalog}.s", json={"changes": [
            {"principal": user.name, "add": ["CREATE_MODEL"]}]}).raise_for_status()
    page.reload()
    _create(page, "model", "mine")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{catalog}.s.mine")
    # The creator owns the model, so may delete it; the schema stays someone else's.
    _delete(page, "model")
    expect(page.locator("#notice")).to_contain_text("deleted")
    expect(page.locator("#delete-zone")).to_have_count(0)
