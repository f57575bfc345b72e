"""MLflow prompts in the browser: a list of their own, without mlflow's bookkeeping tags."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import mlflow
import pytest

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess
from tests.web.test_accessibility import AUDIT
from tests.web.test_snippets import run_snippet


@pytest.fixture()
def prompt(server: ServerProcess, prefix: str) -> Iterator[str]:
    """A prompt with two versions (the second @prod) and a model of the same word, both
    registered with the real mlflow client."""
    name = f"{prefix}-greeting"
    mlflow.set_registry_uri(server.url)
    try:
        mlflow.genai.register_prompt(name, "Hello {{name}}!", commit_message="first",
                                     tags={"team": "support"})
        mlflow.genai.register_prompt(name, "Good day, {{name}}.")
        mlflow.genai.set_prompt_alias(name, "prod", 2)
        client = mlflow.MlflowClient(registry_uri=server.url)
        client.create_registered_model(f"{prefix}-classifier")
        yield name
    finally:
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        os.environ.pop("MLFLOW_REGISTRY_URI", None)


def test_prompts_have_their_own_list_and_pages(page: Page, server: ServerProcess, prompt: str,
                                               prefix: str, engine: str, shot: Any) -> None:
    page.goto(f"{server.url}/?q={prefix}")
    models = page.locator("#models tbody tr")
    expect(models).to_have_count(1)  # the model, not the prompt
    expect(models.first).to_contain_text(f"{prefix}-classifier")

    page.get_by_role("link", name="Prompts", exact=True).click()
    page.get_by_label("Search prompt names, tags and aliases").fill(prefix)
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#prompts tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("@prod → 2")
    expect(rows.first).to_contain_text("team=support")
    expect(page.locator("#prompts")).not_to_contain_text("mlflow.prompt")
    assert page.evaluate(AUDIT) == []
    shot(page, "list")

    page.get_by_role("link", name=prompt).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Prompt {prompt}")
    versions = page.locator("#versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("Version 2")  # newest first
    content = page.content()
    assert "mlflow.prompt.is_prompt" not in content and "_mlflow_" not in content
    shot(page, "prompt")

    page.get_by_role("link", name="Version 1", exact=True).click()
    expect(page.locator("#prompt-template")).to_have_text("Hello {{name}}!")
    content = page.content()
    assert "mlflow.prompt.text" not in content and "_mlflow_prompt_type" not in content
    assert page.evaluate(AUDIT) == []
    shot(page, "version")

    page.goto(f"{server.url}/models/{prompt}/compare?v=1&v=2")
    compare = page.locator("#compare")
    expect(compare).to_be_visible()
    assert "mlflow.prompt" not in compare.inner_text() and "_mlflow_" not in compare.inner_text()

    page.goto(f"{server.url}/models/{prompt}/versions/2")
    snippet = page.locator("#load-snippet").inner_text()
    assert f"prompts:/{prompt}@prod" in snippet
    if engine == "sqlite":  # the client's side is the same whatever the server's database
        assert run_snippet(snippet + "\n") == "Good day, {{name}}."
