"""Run params, metrics, signatures and files read from a real MLflow tracking server.

A real `mlflow server` holds the runs and model files; Modelyard (started with --tracking-uri)
is the registry. The mlflow client logs to the one and registers in the other, as a user would.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
from tests.support.mlflow_server import MlflowServerProcess
from tests.support.server import ServerProcess, free_port
from tests.web.test_accessibility import AUDIT
from tests.web.test_snippets import run_snippet

UC = "/api/2.1/unity-catalog"


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input * 2


@pytest.fixture(scope="session")
def tracked_server(tracking_server: MlflowServerProcess,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Modelyard (SQLite) reading runs from `tracking_server`; the database plays no part."""
    process = ServerProcess(tmp_path_factory.mktemp("server-tracked"),
                            extra_args=["--tracking-uri", tracking_server.url]).start()
    try:
        yield process
    finally:
        process.stop()


@dataclass
class Tracked:
    name: str
    run_ids: list[str]
    artifact_uris: list[str]
    uc_name: str
    #: A run whose artifacts live under a plain folder, not behind the artifact proxy.
    local_run_id: str
    local_root: str


@pytest.fixture(scope="module")
def tracked(tracking_server: MlflowServerProcess, tracked_server: ServerProcess,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracked]:
    """Two runs (lr 0.1 / 0.01, rmse ending at 0.25 / 0.5), each logging a pyfunc model; both
    registered as versions 1 and 2 of one workspace model and of one Unity Catalog model."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    name, schema = f"{prefix}-tracked", f"s_{prefix}"
    with http_clients.Client(base_url=tracked_server.url + UC) as uc:
        assert uc.post("/schemas", json={"catalog_name": "main", "name": schema}).is_success
    uc_name = f"main.{schema}.doubler"
    extra = tmp_path_factory.mktemp("extra")
    (extra / "MLmodel").write_text("flavors: {}\n")
    (extra / "weights").mkdir()
    (extra / "weights" / "w.bin").write_bytes(b"\0" * 2048)
    frame = pd.DataFrame({"amount": [1.0, 2.0], "count": [1, 2]})
    wider = frame.assign(country=["NL", "FR"])
    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_server.url)
    experiment = mlflow.create_experiment(f"web-{prefix}")
    run_ids, artifact_uris = [], []
    try:
        for lr, rmses, inputs in (("0.1", [0.9, 0.25], frame), ("0.01", [0.7, 0.5], wider)):
            with mlflow.start_run(experiment_id=experiment, run_name=f"train-lr-{lr}") as run:
                mlflow.log_params({"lr": lr, "depth": 4})
                for step, value in enumerate(rmses):
                    mlflow.log_metric("rmse", value, step=step)
                mlflow.log_artifacts(str(extra), "extra")
                signature = infer_signature(inputs, frame * 2)
                mlflow.set_registry_uri(tracked_server.url)
                logged = mlflow.pyfunc.log_model(name="model", python_model=Doubler(),
                                                 signature=signature,
                                                 pip_requirements=["mlflow"])
                mlflow.register_model(logged.model_uri, name)  # source models:/m-…
                mlflow.set_registry_uri(f"uc:{tracked_server.url}")
                mlflow.register_model(logged.model_uri, uc_name)
            run_ids.append(run.info.run_id)
            artifact_uris.append(run.info.artifact_uri)
        folder = mlflow.create_experiment(f"web-{prefix}-folder",
                                          artifact_location=str(extra.parent / "folder"))
        with mlflow.start_run(experiment_id=folder) as local:
            mlflow.log_artifacts(str(extra), "extra")
        yield Tracked(name, run_ids, artifact_uris, uc_name, local.info.run_id,
                      local.info.artifact_uri)
    finally:
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
        mlflow.set_tracking_uri(saved_env)  # type: ignore[arg-type]


def _row(page: Page, label: str) -> Any:
    return page.locator("#compare tr", has=page.get_by_role("rowheader", name=label))


def test_compare_shows_params_metrics_and_signature_differences(
        page: Page, tracked_server: ServerProcess, tracked: Tracked, shot: Any) -> None:
    page.goto(f"{tracked_server.url}/models/{tracked.name}")
    page.get_by_label("Compare version 1").check()
    page.get_by_label("Compare version 2").check()
    page.get_by_role("button", name="Compare selected versions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Compare versions of "
                                                              f"{tracked.name}")
    lr = _row(page, "param: lr")
    expect(lr).to_have_class("differs")
    expect(lr.locator("td")).to_have_text(["0.1", "0.01"])
    depth = _row(page, "param: depth")
    expect(depth).not_to_have_class("differs")
    expect(depth.locator("td")).to_have_text(["4", "4"])
    rmse = _row(page, "metric: rmse")  # the latest value of each run, not the first
    expect(rmse).to_have_class("differs")
    expect(rmse.locator("td")).to_have_text(["0.25", "0.5"])
    expect(_row(page, "Run name").locator("td")).to_have_text(["train-lr-0.1", "train-lr-0.01"])
    inputs = _row(page, "Signature inputs")
    expect(inputs).to_have_class("differs")
    expect(inputs.locator("td").nth(1)).to_contain_text("country: string")
    expect(inputs.locator("td").nth(0)).not_to_contain_text("country")
    expect(_row(page, "Signature outputs")).not_to_have_class("differs")
    expect(page.locator("#tracking-notes")).to_have_count(0)
    assert page.evaluate(AUDIT) == []
    shot(page, "compare")


def test_version_page_shows_run_signature_and_files(page: Page, tracked_server: ServerProcess,
                                                    tracked: Tracked, shot: Any) -> None:
    page.goto(f"{tracked_server.url}/models/{tracked.name}/versions/1")
    expect(page.locator("#run-facts")).to_contain_text("train-lr-0.1")
    expect(page.locator("#run-facts")).to_contain_text("FINISHED")
    params = page.get_by_role("table", name="Params")
    expect(params.get_by_role("row", name="lr")).to_contain_text("0.1")
    expect(params.get_by_role("row", name="depth")).to_contain_text("4")
    metrics = page.get_by_role("table", name="Metrics (latest values)")
    expect(metrics.get_by_role("row", name="rmse")).to_contain_text("0.25")
    inputs = page.get_by_role("table", name="Inputs")
    expect(inputs.get_by_role("row", name="amount")).to_contain_text("double")
    expect(inputs.get_by_role("row", name="count")).to_contain_text("long")
    expect(page.get_by_role("table", name="Outputs")).to_contain_text("amount")
    files = page.locator("#files")
    expect(files.get_by_role("row", name="MLmodel")).to_contain_text("B")
    expect(files).to_contain_text("python_model.pkl")
    assert page.evaluate(AUDIT) == []
    shot(page, "version")


def test_run_ids_link_to_the_tracking_servers_run_page(page: Page, tracked_server: ServerProcess,
                                                       tracked: Tracked,
                                                       tracking_server: MlflowServerProcess
                                                       ) -> None:
    run_id = tracked.run_ids[0]
    expected = f"{tracking_server.url}/#/runs/{run_id}"
    page.goto(f"{tracked_server.url}/models/{tracked.name}/versions/1")
    expect(page.get_by_role("link", name=run_id)).to_have_attribute("href", expected)
    catalog, schema, model = tracked.uc_name.split(".")
    # Registered through `uc:` from models:/m-…, so the version records no run id: the page
    # finds the run through the logged model.
    page.goto(f"{tracked_server.url}/catalogs/{catalog}/{schema}/{model}/versions/1")
    link = page.get_by_role("link", name=run_id)
    expect(link).to_have_attribute("href", expected)
    # MLflow's own UI takes it from there: it finds the run's experiment by itself.
    link.click()
    expect(page).to_have_url(re.compile(rf"#/experiments/\d+/runs/{run_id}"), timeout=60_000)


def test_load_snippet_with_the_tracking_server_runs_anywhere(
        page: Page, tracked_server: ServerProcess, tracked: Tracked,
        tracking_server: MlflowServerProcess) -> None:
    """The team setup: runs and files in a shared tracking server, the registry in Modelyard.
    A version logged elsewhere loads from a fresh directory with the page's snippet."""
    page.goto(f"{tracked_server.url}/models/{tracked.name}/versions/2")
    snippet = page.locator("#load-snippet").inner_text()
    assert f'mlflow.set_tracking_uri("{tracking_server.url}")' in snippet
    result = run_snippet(snippet + "\nimport pandas\nprint(model.predict(pandas.DataFrame("
                         "{'amount': [1.0], 'count': [2], 'country': ['NL']}))['count'][0])\n")
    assert result == "4"


def test_unity_catalog_compare_shows_params_and_metrics(page: Page, tracked_server: ServerProcess,
                                                        tracked: Tracked, shot: Any) -> None:
    catalog, schema, model = tracked.uc_name.split(".")
    page.goto(f"{tracked_server.url}/catalogs/{catalog}/{schema}/{model}/compare?v=1&v=2")
    expect(_row(page, "param: lr").locator("td")).to_have_text(["0.1", "0.01"])
    expect(_row(page, "metric: rmse")).to_have_class("differs")
    expect(_row(page, "Content digest")).to_have_class("differs")
    expect(_row(page, "Signature inputs")).to_have_class("differs")
    shot(page, "uc-compare")


@pytest.mark.parametrize("kind", ["runs", "mlflow-artifacts", "path under the run"])
def test_files_of_other_source_kinds(tracked_server: ServerProcess, tracked: Tracked,
                                     kind: str) -> None:
    """A version may point at run artifacts rather than a logged model: files still list."""
    run_id, root = tracked.run_ids[0], tracked.artifact_uris[0]
    source, run_id = {
        "runs": (f"runs:/{run_id}/extra", run_id),
        # Without a run id: read through the tracking server's artifact proxy.
        "mlflow-artifacts": (f"{root}/extra", None),
        "path under the run": (f"{tracked.local_root}/extra", tracked.local_run_id),
    }[kind]
    registry = MlflowClient(tracking_uri=tracked_server.url, registry_uri=tracked_server.url)
    name = f"{tracked.name}-{uuid.uuid4().hex[:6]}"
    registry.create_registered_model(name)
    # Without a run id, a mlflow-artifacts: source is still read through the artifact proxy.
    registry.create_model_version(name, source, run_id=run_id)
    answer = http_clients.get(f"{tracked_server.url}/models/{name}/versions/1", timeout=30)
    assert answer.status_code == 200
    assert "<code>weights/w.bin</code></td><td class=\"num\">2.0 KiB" in answer.text
    assert "<code>MLmodel</code>" in answer.text
    assert "This model was logged without a signature." in answer.text


TOKEN = f"tracking-secret-{uuid.uuid4().hex}"


def test_sources_outside_a_model_folder_are_not_read(tracked_server: ServerProcess,
                                                     tracked: Tracked) -> None:
    registry = MlflowClient(tracking_uri=tracked_server.url, registry_uri=tracked_server.url)
    name = f"{tracked.name}-{uuid.uuid4().hex[:6]}"
    registry.create_registered_model(name)
    registry.create_model_version(name, "mlflow-artifacts:/0/../../etc")
    registry.create_model_version(name, f"models:/{tracked.name}/1")
    with http_clients.Client(base_url=tracked_server.url, timeout=30) as http:
        climbing = http.get(f"/models/{name}/versions/1")
        assert climbing.status_code == 200
        assert "climbs out of its folder" in climbing.text
        registered = http.get(f"/models/{name}/versions/2")
        assert registered.status_code == 200
        assert "names a registered model version, not the files" in registered.text


@pytest.fixture(scope="module")
def orphan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Modelyard pointed at a tracking server that is not there (nothing listens on the port)."""
    process = ServerProcess(tmp_path_factory.mktemp("server-orphan"), extra_args=[
        "--tracking-uri", f"http://127.0.0.1:{free_port()}"],
        env={"MODELYARD_TRACKING_TOKEN": TOKEN}).start()
    try:
        yield process
    finally:
        process.stop()


def test_pages_explain_an_unreachable_tracking_server(page: Page, orphan_server: ServerProcess,
                                                      shot: Any) -> None:
    registry = MlflowClient(tracking_uri=orphan_server.url, registry_uri=orphan_server.url)
    name = f"orphan-{uuid.uuid4().hex[:8]}"
    registry.create_registered_model(name)
    for run in ("a" * 32, "b" * 32):
        registry.create_model_version(name, f"runs:/{run}/model", run_id=run)

    answer = page.goto(f"{orphan_server.url}/models/{name}/versions/1")
    assert answer is not None and answer.status == 200
    expect(page.locator("#run-missing")).to_contain_text("is unreachable")
    expect(page.locator("#sig-missing")).to_contain_text("is unreachable")
    expect(page.locator("#files-missing")).to_contain_text("is unreachable")
    assert page.evaluate(AUDIT) == []
    assert TOKEN not in page.content()
    shot(page, "version")

    answer = page.goto(f"{orphan_server.url}/models/{name}/compare?v=1&v=2")
    assert answer is not None and answer.status == 200
    expect(page.locator("#tracking-notes")).to_contain_text("Versions 1, 2: The tracking server")
    expect(page.locator("#tracking-notes")).to_contain_text("is unreachable")
    expect(_row(page, "Run id")).to_have_class("differs")
    shot(page, "compare")
    assert TOKEN not in page.content() and TOKEN not in orphan_server.log()


def test_pages_say_no_tracking_server_is_configured(server: ServerProcess,
                                                    tmp_path: Path) -> None:
    registry = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    name = f"untracked-{uuid.uuid4().hex[:8]}"
    registry.create_registered_model(name)
    registry.create_model_version(name, "runs:/r1/model", run_id="r1")
    registry.create_model_version(name, "runs:/r2/model", run_id="r2")
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        for path in (f"/models/{name}/versions/1", f"/models/{name}/compare?v=1&v=2"):
            answer = http.get(path)
            assert answer.status_code == 200, path
            assert answer.text.count("No tracking server is configured (start Modelyard "
                                     "with --tracking-uri)") == 1, path  # once per page


def test_worker_processes_get_the_tracking_setting(tmp_path: Path) -> None:
    """With --workers 2 the setting reaches the workers: they try the (absent) server."""
    process = ServerProcess(tmp_path, workers=2, extra_args=[
        "--tracking-uri", f"http://127.0.0.1:{free_port()}"]).start()
    try:
        registry = MlflowClient(tracking_uri=process.url, registry_uri=process.url)
        registry.create_registered_model("workers")
        registry.create_model_version("workers", "runs:/r1/model", run_id="r1")
        answer = http_clients.get(f"{process.url}/models/workers/versions/1", timeout=30)
        assert answer.status_code == 200
        assert "is unreachable (ConnectError)" in answer.text
    finally:
        process.stop()
