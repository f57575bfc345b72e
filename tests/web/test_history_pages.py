"""The History sections of the model and version pages, in both registries, read as HTML (no
browser needed): who changed what, when and why, with the reasons given through a form's
optional field, the X-Modelyard-Reason header or a transition's comment; rollback from the Unity
Catalog model page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.api.history.conftest import MLFLOW, NATIVE, UC, uc_model, workspace_model
from tests.support import http_clients
from tests.support.server import ServerProcess


@pytest.fixture()
def web(server: ServerProcess) -> Iterator[httpx.Client]:
    # Form posts must come from a page of this server (the CSRF check reads Origin).
    with http_clients.Client(base_url=server.url, timeout=30,
                             headers={"Origin": server.url}) as http:
        yield http


def history_rows(page: str) -> list[str]:
    """The rows of the page's #history table, as text."""
    table = re.search(r'<table class="list" id="history">(.*?)</table>', page, re.S)
    assert table, "no history table on the page"
    body = table.group(1).split("<tbody>", 1)[1]
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))).strip()
            for row in body.split("</tr>") if "<td" in row]


def test_uc_model_history_tab_rolls_back(web: httpx.Client) -> None:
    full = uc_model(web, 2)
    for version, reason in (("1", "first"), ("2", "retrained")):
        moved = web.put(f"{NATIVE}/{full}/aliases/champion",
                        json={"version": version, "reason": reason})
        assert moved.status_code == 200, moved.text
    catalog, schema, model = full.split(".")
    base = f"/catalogs/{catalog}/{schema}/{model}"
    page = web.get(f"{base}?tab=history")
    assert page.status_code == 200
    rows = history_rows(page.text)
    assert "alias @champion" in rows[0] and "retrained" in rows[0]
    assert 'aria-label="Roll back @champion to version 1"' in page.text
    back = web.post(f"{base}/rollback", data={"alias": "champion", "reason": "v2 drifted"})
    assert back.status_code == 303, back.text
    assert "rolled+back+to+version+1" in back.headers["location"]
    rows = history_rows(web.get(f"{base}?tab=history").text)
    assert "v2 drifted" in rows[0] and "admin" in rows[0]
    assert web.get(f"{NATIVE}/{full}/aliases/champion").json()["version"] == "1"


def test_version_pages_show_stages_tags_and_descriptions_with_reasons(
        web: httpx.Client) -> None:
    full = uc_model(web, 1)
    described = web.patch(f"{UC}/models/{full}/versions/1", json={"comment": "v1 notes"},
                          headers={"X-Modelyard-Reason": "document the retrain"})
    assert described.status_code == 200, described.text
    catalog, schema, model = full.split(".")
    here = f"/catalogs/{catalog}/{schema}/{model}/versions/1"
    tagged = web.post(f"{here}/tag", data={"key": "validated", "value": "yes",
                                           "reason": "QA sign-off"})
    assert tagged.status_code == 303, tagged.text
    rows = history_rows(web.get(here).text)
    assert "tag validated" in rows[0] and "QA sign-off" in rows[0]
    assert any("description" in r and "v1 notes" in r and "document the retrain" in r
               for r in rows)

    name = workspace_model(web, 1)
    moved = web.post(f"{MLFLOW}/databricks/model-versions/transition-stage", json={
        "name": name, "version": "1", "stage": "Staging", "archive_existing_versions": False,
        "comment": "passed offline eval"})
    assert moved.status_code == 200, moved.text
    web.post(f"/models/{name}/versions/1/description",
             data={"description": "first cut", "reason": "explain the version"})
    rows = history_rows(web.get(f"/models/{name}/versions/1").text)
    assert "description" in rows[0] and "explain the version" in rows[0]
    assert "stage" in rows[1] and "Staging" in rows[1] and "passed offline eval" in rows[1]
    # The model page's History tab shows the versions' changes too, with their version.
    model_rows = history_rows(web.get(f"/models/{name}?tab=history").text)
    assert any("stage" in r and "passed offline eval" in r for r in model_rows)
    # No reason given: none recorded, nothing made up.
    web.post(f"/models/{name}/tag", data={"key": "team", "value": "risk"})
    latest = web.get(f"{NATIVE}/{name}/history", params={"kind": "tag"}).json()["history"][0]
    assert (latest["subject"], latest["reason"]) == ("team", None)
