"""Usable without a mouse and readable: labels, landmarks, contrast, keyboard-only changes."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess

# Every visible form control has a label; text meets WCAG AA contrast (4.5:1, 3:1 when large).
AUDIT = """() => {
  const problems = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  for (const el of document.querySelectorAll("input, select, textarea, button")) {
    if (el.type === "hidden" || !visible(el)) continue;
    const named = el.labels?.length || el.getAttribute("aria-label") ||
                  (el.tagName === "BUTTON" && el.textContent.trim());
    if (!named) problems.push(`unlabelled ${el.tagName} ${el.name || ""}`);
  }
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => {
    c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }).reduce((acc, c, i) => acc + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const el = walker.currentNode.parentElement;
    if (!text || !visible(el) || el.closest("dialog:not([open]), .sr-only, .skip")) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)} on "${text.slice(0, 30)}"`);
    }
  }
  if (document.documentElement.lang !== "en") problems.push("no lang");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  if (!document.querySelector("main")) problems.push("no main landmark");
  return problems;
}"""


@pytest.fixture()
def model(server: ServerProcess, prefix: str) -> str:
    registry = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    name = f"{prefix}-a11y"
    registry.create_registered_model(name, tags={"team": "risk"}, description="**Bold** text")
    for run in ("run-a", "run-b"):
        registry.create_model_version(name, f"runs:/{run}/model", run_id=run)
    registry.set_registered_model_alias(name, "champion", "1")
    registry.create_model_version(name, "runs:/run-c/model", run_id="run-c")
    return name


def test_pages_have_labels_landmarks_and_contrast(page: Page, server: ServerProcess, model: str,
                                                  shot: Any) -> None:
    for path in ("/", f"/?q={model}", f"/models/{model}", f"/models/{model}?tab=permissions",
                 f"/models/{model}?tab=activity", f"/models/{model}/versions/1",
                 f"/models/{model}/compare?v=1&v=2", "/catalogs", "/catalogs/main",
                 "/models/no-such-model"):
        page.goto(server.url + path)
        page.locator("details").evaluate_all("(all) => all.forEach((d) => d.open = true)")
        assert page.evaluate(AUDIT) == [], path
    shot(page, "not-found")


def test_move_alias_with_the_keyboard_only(page: Page, server: ServerProcess, model: str,
                                           shot: Any) -> None:
    page.goto(f"{server.url}/models/{model}")
    alias = page.locator("#alias-form").get_by_label("Alias")
    alias.focus()
    page.keyboard.type("champion")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Enter")  # submits the form: the confirmation opens, focused
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("version 1 → version 3")
    expect(dialog.get_by_role("button", name="Move alias")).to_be_focused()
    page.keyboard.press("Escape")  # closes without moving
    expect(dialog).to_be_hidden()
    expect(page.locator("#aliases")).to_contain_text("@champion → version 1")

    alias.focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    shot(page, "dialog")
    page.keyboard.press("Enter")
    expect(page.locator("#aliases")).to_contain_text("@champion → version 3")
    expect(page.locator("#notice")).to_have_text("@champion now points to version 3.")
