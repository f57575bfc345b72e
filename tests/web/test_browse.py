"""Finding a model in the browser: search, sorting, paging, the Unity Catalog explorer."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import infer_signature

pytest.importorskip("playwright.sync_api", reason="web UI browser tests skipped: the `playwright` "
                    "package is not installed (pip install -e '.[test]')")
from playwright.sync_api import Page, expect

from tests.support import http_clients
from tests.support.server import ServerProcess

UC = "/api/2.1/unity-catalog"


@pytest.fixture()
def registry(server: ServerProcess) -> MlflowClient:
    """The real mlflow client on the workspace registry (no tracking server needed)."""
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def test_search_box_finds_models_by_tag_and_alias(page: Page, server: ServerProcess,
                                                  registry: MlflowClient, prefix: str,
                                                  shot: Any) -> None:
    registry.create_registered_model(f"{prefix}-fraud", tags={"team": f"{prefix}-risk"},
                                     description="Scores card payments.")
    registry.create_registered_model(f"{prefix}-churn")
    registry.create_model_version(f"{prefix}-churn", "runs:/r1/model", run_id="r1")
    registry.set_registered_model_alias(f"{prefix}-churn", f"{prefix}champ", "1")
    registry.create_registered_model(f"{prefix}-other")

    page.goto(server.url + "/")
    # Keyboard first: the skip link is the first stop, then the search box is reachable.
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    search = page.get_by_label("Search names, tags and aliases")
    search.fill(f"{prefix}-risk")  # a tag value
    search.press("Enter")
    rows = page.locator("#models tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{prefix}-fraud")
    shot(page, "by-tag")

    search = page.get_by_label("Search names, tags and aliases")
    search.fill(f"{prefix}champ")  # an alias
    search.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("@" + f"{prefix}champ → 1")
    page.get_by_role("link", name=f"{prefix}-churn").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{prefix}-churn")
    expect(page.locator("#versions")).to_contain_text("Version 1")
    shot(page, "model")

    page.goto(server.url + "/?q=" + prefix)
    expect(rows).to_have_count(3)
    page.get_by_label("Sort by").select_option(label="Name Z to A")
    page.get_by_role("button", name="Search").click()
    expect(rows.first).to_contain_text(f"{prefix}-other")
    expect(rows.last).to_contain_text(f"{prefix}-churn")

    # The MLflow filter language narrows further; a wrong filter is a readable 400 page.
    page.get_by_text("Filter", exact=True).click()
    page.get_by_label("MLflow filter").fill(f"tags.team = '{prefix}-risk'")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{prefix}-fraud")
    page.get_by_label("MLflow filter").fill("tags.team = = 'x'")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_be_visible()
    shot(page, "bad-filter")


def test_paging_reaches_every_model(page: Page, server: ServerProcess, prefix: str,
                                    shot: Any) -> None:
    with http_clients.Client(base_url=server.url) as http:
        for i in range(57):
            created = http.post("/api/2.0/mlflow/registered-models/create",
                                json={"name": f"{prefix}-{i:03d}"})
            assert created.status_code == 200, created.text
    page.goto(f"{server.url}/?q={prefix}")
    seen: list[str] = []
    while True:
        seen += page.locator("#models tbody tr td:first-child").all_inner_texts()
        next_link = page.get_by_role("link", name="Next page »")
        if next_link.count() == 0:
            break
        next_link.click()
    assert seen == [f"{prefix}-{i:03d}" for i in range(57)]
    shot(page, "last-page")


class AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input + 1


@pytest.fixture()
def uc_model(server: ServerProcess, tmp_path: Path, prefix: str) -> Iterator[str]:
    """`main.<schema>.adder` with one version logged by the mlflow client (uc: registry)."""
    schema = f"s_{prefix}"
    with http_clients.Client(base_url=server.url + UC) as uc:
        made = uc.post("/schemas", json={"catalog_name": "main", "name": schema,
                                         "comment": "Web UI test schema"})
        assert made.status_code == 200, made.text
    tracking_uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(f"uc:{server.url}")
    experiment = mlflow.create_experiment("web", artifact_location=str(tmp_path / "runs"))
    mlflow.set_experiment(experiment_id=experiment)
    frame = pd.DataFrame({"amount": [1.0, 2.0], "count": [1, 2]})
    name = f"main.{schema}.adder"
    try:
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=AddOne(),
                                    registered_model_name=name, pip_requirements=["mlflow"],
                                    signature=infer_signature(frame, frame + 1))
        wider = frame.assign(country=["NL", "FR"])
        with mlflow.start_run():  # version 2 takes one more input column
            mlflow.pyfunc.log_model(name="model", python_model=AddOne(),
                                    registered_model_name=name, pip_requirements=["mlflow"],
                                    signature=infer_signature(wider, frame + 1))
        yield name
    finally:
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        os.environ.pop("MLFLOW_REGISTRY_URI", None)


def test_unity_catalog_explorer_to_version(page: Page, server: ServerProcess, uc_model: str,
                                           shot: Any) -> None:
    catalog, schema, model = uc_model.split(".")
    page.goto(server.url + "/")
    page.get_by_role("link", name="Unity Catalog").click()
    page.get_by_role("link", name=catalog, exact=True).click()
    page.get_by_role("link", name=schema, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Schema {catalog}.{schema}")
    page.get_by_role("link", name=model, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(uc_model)
    shot(page, "model")
    page.get_by_role("link", name="Version 1", exact=True).click()

    expect(page.locator("#sig-inputs")).to_contain_text("amount")
    expect(page.locator("#sig-inputs")).to_contain_text("double")
    expect(page.locator("#sig-outputs")).to_contain_text("count")
    files = page.locator("#files")
    expect(files).to_contain_text("MLmodel")
    digests = files.locator("tbody code.digest").all_inner_texts()
    assert digests and all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    expect(page.locator("#root-digest")).to_have_text(re.compile(r"\S{20,}"))
    expect(page.locator("#load-snippet")).to_contain_text(f'models:/{uc_model}/1')
    shot(page, "version")

    # The explorer's search box finds Unity Catalog models too.
    page.goto(server.url + "/")
    page.get_by_label("Search names, tags and aliases").fill(schema)
    page.get_by_label("Search names, tags and aliases").press("Enter")
    expect(page.locator("#uc-models tbody tr")).to_have_count(1)
    page.locator("#uc-models").get_by_role("link", name=uc_model).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(uc_model)


def test_unity_catalog_compare_and_move_alias(page: Page, server: ServerProcess, uc_model: str,
                                              shot: Any) -> None:
    catalog, schema, model = uc_model.split(".")
    page.goto(f"{server.url}/catalogs/{catalog}/{schema}/{model}")
    form = page.locator("#alias-form")
    form.get_by_label("Alias").fill("prod")
    form.get_by_label("Version").fill("1")
    form.get_by_role("button", name="Set alias").click()
    expect(page.get_by_role("dialog")).to_contain_text("Create @prod pointing to version 1")
    page.get_by_role("dialog").get_by_role("button", name="Move alias").click()
    expect(page.locator("#aliases")).to_contain_text("@prod → version 1")

    form.get_by_label("Alias").fill("prod")
    form.get_by_label("Version").fill("2")
    form.get_by_role("button", name="Set alias").click()
    expect(page.get_by_role("dialog")).to_contain_text("version 1 → version 2")
    page.get_by_role("dialog").get_by_role("button", name="Move alias").click()
    expect(page.locator("#aliases")).to_contain_text("@prod → version 2")
    with http_clients.Client(base_url=server.url + UC) as uc:
        assert uc.get(f"/models/{uc_model}/aliases/prod").json()["version"] == 2

    page.get_by_label("Compare version 1").check()
    page.get_by_label("Compare version 2").check()
    page.get_by_role("button", name="Compare selected versions").click()
    table = page.locator("#compare")
    inputs = table.locator("tr", has=page.get_by_role("rowheader", name="Signature inputs"))
    expect(inputs).to_have_class("differs")
    expect(inputs.locator("td").nth(1)).to_contain_text("country: string")
    expect(inputs.locator("td").nth(0)).not_to_contain_text("country")
    outputs = table.locator("tr", has=page.get_by_role("rowheader", name="Signature outputs"))
    expect(outputs).not_to_have_class("differs")
    digests = table.locator("tr", has=page.get_by_role("rowheader", name="Content digest"))
    expect(digests).to_have_class("differs")
    shot(page, "compare")
