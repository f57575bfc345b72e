"""With `--auth`: signing in, two people promoting a version together, hidden models."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Browser, Page, expect

from tests.api.identity.conftest import AuthServer, Principal

MLFLOW = "/api/2.0/mlflow"
UC = "/api/2.1/unity-catalog"


def sign_in_with_token(page: Page, server: AuthServer, user: Principal, path: str = "/") -> None:
    page.goto(server.url + path)
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_label("Token", exact=True).fill(user.token)
    page.get_by_role("button", name="Sign in with token").click()
    expect(page.locator("header .who")).to_contain_text(f"Signed in as {user.name}")


def make_model(server: AuthServer, name: str, versions: int = 1) -> None:
    with server.admin() as admin:
        made = admin.post(f"{MLFLOW}/registered-models/create", json={"name": name})
        assert made.status_code == 200, made.text
        for _ in range(versions):
            version = admin.post(f"{MLFLOW}/model-versions/create",
                                 json={"name": name, "source": "runs:/r/model", "run_id": "r"})
            assert version.status_code == 200, version.text


def test_sign_in_with_password_then_token(page: Page, web_auth_server: AuthServer,
                                          shot: Any) -> None:
    server = web_auth_server
    user = server.new_user("signin", password="correct horse battery")
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Modelyard")
    page.get_by_label("User name", exact=True).fill(user.name)
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    shot(page, "refused")

    page.get_by_label("User name", exact=True).fill(user.name)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("header .who")).to_contain_text(f"Signed in as {user.name}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Workspace registry")
    shot(page, "signed-in")
    # The session is an HttpOnly cookie that scripts on the page cannot read.
    assert "modelyard_session" not in page.evaluate("document.cookie")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Modelyard")
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/signin"))

    sign_in_with_token(page, server, user)


def test_repeated_wrong_passwords_pause_password_sign_in(page: Page,
                                                        web_auth_server: AuthServer,
                                                        shot: Any) -> None:
    server = web_auth_server
    user = server.new_user("guessed", password="correct horse battery")
    page.goto(server.url + "/signin")
    for _ in range(5):
        page.get_by_label("User name", exact=True).fill(user.name)
        page.get_by_label("Password", exact=True).fill("a wrong guess")
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")

    # Now even the right password is refused, with a message that says why and what to do.
    page.get_by_label("User name", exact=True).fill(user.name)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    with page.expect_response(lambda r: r.url.endswith("/signin")
                              and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in", exact=True).click()
    assert answer.value.status == 429
    assert 0 < int(answer.value.headers["retry-after"]) <= 300
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too many failed sign-in attempts for this user name")
    expect(alert).to_contain_text("try again in 5 minutes, or sign in with a token")
    expect(page.get_by_label("User name", exact=True)).to_have_value(user.name)
    shot(page, "paused")

    sign_in_with_token(page, server, user, "/")


def test_request_transition_then_another_user_approves(
        browser: Browser, web_auth_server: AuthServer, prefix: str, shot: Any) -> None:
    server = web_auth_server
    name = f"{prefix}-promoted"
    make_model(server, name)
    requester, approver = server.new_user("requester"), server.new_user("approver")
    server.set_level(name, requester.name, "CAN_READ")
    server.set_level(name, approver.name, "CAN_MANAGE_STAGING_VERSIONS")
    version_path = f"/models/{name}/versions/1"

    with browser.new_context() as first:
        page = first.new_page()
        sign_in_with_token(page, server, requester, version_path)
        expect(page.get_by_role("heading", level=1)).to_contain_text("version 1")
        # A reader may only ask: the direct move is not offered.
        expect(page.get_by_role("button", name="Move now")).to_have_count(0)
        page.get_by_label("New stage").select_option("Staging")
        page.locator("#stage-form").get_by_label("Comment").fill("Passed offline evaluation")
        page.get_by_role("button", name="Request transition").click()
        expect(page.locator("#notice")).to_have_text("Requested a transition to Staging.")
        expect(page.locator("#activities")).to_contain_text("Passed offline evaluation")
        expect(page.get_by_role("button", name="Approve")).to_have_count(0)
        shot(page, "requested")

    with browser.new_context() as second:
        page = second.new_page()
        sign_in_with_token(page, server, approver, version_path)
        request = page.locator("#activities li", has_text="requested None → Staging")
        request.get_by_label("Comment").fill("Looks good")
        shot(page, "to-approve")
        request.get_by_role("button", name="Approve").click()
        expect(page.locator("#notice")).to_have_text("Approved: moved to Staging.")
        expect(page.locator("#stage")).to_have_text("Staging")
        expect(page.locator("#activities")).to_contain_text(f"{approver.name} approved")
        shot(page, "approved")

    with server.admin() as admin:
        got = admin.get(f"{MLFLOW}/model-versions/get", params={"name": name, "version": "1"})
    assert got.json()["model_version"]["current_stage"] == "Staging"


def test_user_without_access_does_not_see_hidden_model(
        page: Page, web_auth_server: AuthServer, prefix: str, shot: Any) -> None:
    server = web_auth_server
    shared, hidden = f"{prefix}-shared", f"{prefix}-hidden"
    make_model(server, shared)
    make_model(server, hidden)
    user = server.new_user("reader")
    server.set_level(shared, user.name, "CAN_READ")

    sign_in_with_token(page, server, user, f"/?q={prefix}")
    rows = page.locator("#models tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(shared)
    expect(page.locator("main")).not_to_contain_text(hidden)
    shot(page, "search")

    # Not even by its address: the same answer as a model that does not exist.
    response = page.goto(f"{server.url}/models/{hidden}")
    assert response is not None and response.status == 404
    shot(page, "direct")

    # A reader sees the model but is offered no editing.
    page.goto(f"{server.url}/models/{shared}")
    expect(page.get_by_text("Edit description")).to_have_count(0)
    expect(page.get_by_role("button", name="Set tag")).to_have_count(0)


@pytest.mark.parametrize("path", ["/models/x/description", "/signout"])
def test_cross_site_form_posts_are_refused(web_auth_server: AuthServer, path: str) -> None:
    with web_auth_server.client() as client:
        response = client.post(path, data={"description": "x"},
                               headers={"Origin": "https://evil.example"},
                               cookies={"modelyard_session": web_auth_server.admin_token})
    assert response.status_code == 403


def test_unity_catalog_shows_only_granted_catalogs(page: Page, web_auth_server: AuthServer,
                                                    prefix: str, shot: Any) -> None:
    server = web_auth_server
    open_catalog, closed_catalog = f"{prefix}_open", f"{prefix}_closed"
    user = server.new_user("uc-reader")
    with server.admin() as admin:
        for catalog in (open_catalog, closed_catalog):
            made = admin.post(f"{UC}/catalogs", json={"name": catalog})
            assert made.status_code == 200, made.text
            made = admin.post(f"{UC}/schemas", json={"catalog_name": catalog, "name": "s"})
            assert made.status_code == 200, made.text
            made = admin.post(f"{UC}/models", json={"catalog_name": catalog,
                                                    "schema_name": "s", "name": "m"})
            assert made.status_code == 200, made.text
        granted = admin.patch(f"{UC}/permissions/catalog/{open_catalog}", json={"changes": [
            {"principal": user.name, "add": ["USE_CATALOG", "USE_SCHEMA", "EXECUTE"]}]})
        assert granted.status_code == 200, granted.text

    sign_in_with_token(page, server, user, "/catalogs")
    catalogs = page.locator("#catalogs")
    expect(catalogs).to_contain_text(open_catalog)
    expect(page.locator("main")).not_to_contain_text(closed_catalog)
    page.get_by_role("link", name=open_catalog).click()
    page.get_by_role("link", name="s", exact=True).click()
    page.get_by_role("link", name="m", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{open_catalog}.s.m")
    # Reading is not managing: no alias or description forms are offered.
    expect(page.locator("#alias-form")).to_have_count(0)
    expect(page.get_by_text("Edit description")).to_have_count(0)
    shot(page, "granted")

    page.goto(f"{server.url}/?q={prefix}")
    expect(page.locator("#uc-models tbody tr")).to_have_count(1)
    expect(page.locator("#uc-models")).to_contain_text(f"{open_catalog}.s.m")
    expect(page.locator("main")).not_to_contain_text(closed_catalog)

    response = page.goto(f"{server.url}/catalogs/{closed_catalog}/s/m")
    assert response is not None and response.status in (403, 404)
    expect(page.locator("main")).not_to_contain_text("Storage")
    shot(page, "refused")


def test_requester_cancels_and_manager_rejects(browser: Browser, web_auth_server: AuthServer,
                                               prefix: str, shot: Any) -> None:
    server = web_auth_server
    name = f"{prefix}-requests"
    make_model(server, name)
    requester, manager = server.new_user("requester"), server.new_user("manager")
    server.set_level(name, requester.name, "CAN_READ")
    server.set_level(name, manager.name, "CAN_MANAGE")
    version_path = f"/models/{name}/versions/1"

    with browser.new_context() as first:
        page = first.new_page()
        sign_in_with_token(page, server, requester, version_path)
        for stage in ("Staging", "Production"):
            page.get_by_label("New stage").select_option(stage)
            page.get_by_role("button", name="Request transition").click()
            expect(page.locator("#notice")).to_have_text(f"Requested a transition to {stage}.")
        production = page.locator("#activities li", has_text="requested None → Production")
        production.get_by_label("Comment").fill("Too early")
        production.get_by_role("button", name="Cancel request").click()
        expect(page.locator("#notice")).to_have_text("Request cancelled.")
        expect(page.locator("#activities")).to_contain_text(
            f"{requester.name} cancelled the request None → Production")

    with browser.new_context() as second:
        page = second.new_page()
        sign_in_with_token(page, server, manager, version_path)
        staging = page.locator("#activities li", has_text="requested None → Staging")
        staging.get_by_label("Comment").fill("Needs more evaluation")
        staging.get_by_role("button", name="Reject").click()
        expect(page.locator("#notice")).to_have_text("Request rejected.")
        expect(page.locator("#activities")).to_contain_text("Needs more evaluation")
        expect(page.locator("#stage")).to_have_text("None")
        # No open request is left to act on.
        expect(page.get_by_role("button", name="Approve")).to_have_count(0)
        shot(page, "rejected")


def test_unity_catalog_search_finds_visible_models_behind_hidden_ones(
        web_auth_server: AuthServer, prefix: str) -> None:
    """The search box lists the first 20 Unity Catalog matches the user may see: 25 hidden
    models whose names sort first do not push the one visible match off the list."""
    server = web_auth_server
    hidden, shown = f"{prefix}_a_hidden", f"{prefix}_z_shown"
    user = server.new_user("uc-searcher")
    with server.admin() as admin:
        for catalog, models in ((hidden, 25), (shown, 1)):
            assert admin.post(f"{UC}/catalogs", json={"name": catalog}).status_code == 200
            assert admin.post(f"{UC}/schemas", json={"catalog_name": catalog, "name": "s"}
                              ).status_code == 200
            for i in range(models):
                made = admin.post(f"{UC}/models", json={"catalog_name": catalog,
                                                        "schema_name": "s", "name": f"m{i:02d}"})
                assert made.status_code == 200, made.text
        granted = admin.patch(f"{UC}/permissions/catalog/{shown}", json={"changes": [
            {"principal": user.name, "add": ["USE_CATALOG", "USE_SCHEMA", "EXECUTE"]}]})
        assert granted.status_code == 200, granted.text
    with server.client() as client:
        as_user = client.get("/", params={"q": prefix},
                             cookies={"modelyard_session": user.token})
        as_admin = client.get("/", params={"q": prefix},
                              cookies={"modelyard_session": server.admin_token})
    assert as_user.status_code == 200
    assert f"{shown}.s.m00" in as_user.text and hidden not in as_user.text
    assert as_admin.text.count(f"{hidden}.s.m") == 20  # the first 20 matches, all visible
