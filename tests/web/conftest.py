"""Browser tests: Debian's Chromium at /usr/bin/chromium driven by Playwright.

Without Chromium (or without the playwright package) every test here is skipped with the reason;
`.ci/run` installs Chromium so CI runs them. Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.identity.conftest import AuthServer
from tests.conftest import database_url_for
from tests.support.server import PER_REFUSAL, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - reported as a skip below
    sync_playwright = None  # type: ignore[assignment]


def _unavailable(reason: str) -> None:
    """Skip, unless CI demands the browser tests (MODELYARD_TEST_REQUIRE_CHROMIUM=1)."""
    if os.environ.get("MODELYARD_TEST_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"web UI browser tests cannot run: {reason}")
    pytest.skip(f"web UI browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        _unavailable("the `playwright` package is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _unavailable("/usr/bin/chromium is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test: no cookies shared between tests."""
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture()
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture()
def shot(request: pytest.FixtureRequest, artifacts_dir: Path) -> Any:
    """`shot(page, "step")` saves test-artifacts/web/<test>-<step>.png."""
    folder = artifacts_dir / "web"
    folder.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^\w.-]+", "_", request.node.name)

    def take(target: Page, step: str) -> Path:
        path = folder / f"{test}-{step}.png"
        target.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="session")
def web_auth_database_url(engine: str, pg_available: bool) -> Iterator[str | None]:
    yield from database_url_for(engine, pg_available)


@pytest.fixture(scope="session")
def web_auth_server(web_auth_database_url: str | None, engine: str,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A server started with `--auth`; users are made through its SCIM and token APIs."""
    data_dir = tmp_path_factory.mktemp(f"web-auth-{engine}")
    process = ServerProcess(data_dir, web_auth_database_url,
                            extra_args=["--auth", *PER_REFUSAL]).start()
    server = AuthServer(process, web_auth_database_url)
    server.admin_token = (data_dir / "admin-token").read_text().strip()
    try:
        yield server
    finally:
        process.stop()


@pytest.fixture()
def prefix() -> str:
    """A word no other test's models contain, so searches find only this test's models."""
    return f"w{uuid.uuid4().hex[:10]}"
