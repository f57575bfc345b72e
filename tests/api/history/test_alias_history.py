"""Alias history, as-of lookups, compare-and-set and rollback over HTTP, in both registries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from mlflow import MlflowClient

from tests.api.history.conftest import NATIVE
from tests.support import http_clients
from tests.support.server import ServerProcess


def move(http: httpx.Client, name: str, version: int, reason: str | None = None,
         **extra: object) -> httpx.Response:
    return http.put(f"{NATIVE}/{name}/aliases/champion",
                    json={"version": str(version), "reason": reason, **extra})


def history(http: httpx.Client, name: str, **params: object) -> list[dict]:
    answer = http.get(f"{NATIVE}/{name}/aliases/champion/history", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["history"]  # type: ignore[no-any-return]


def test_three_moves_read_back_newest_first(http: httpx.Client,
                                            make_model: Callable[[httpx.Client], str]) -> None:
    name = make_model(http)
    for version in (1, 2, 3):
        assert move(http, name, version, f"promote v{version}").status_code == 200
    entries = history(http, name)
    assert [(e["version"], e["previous_version"], e["reason"]) for e in entries] == [
        ("3", "2", "promote v3"), ("2", "1", "promote v2"), ("1", None, "promote v1")]
    assert all(e["actor"] and e["time"] > 0 for e in entries)
    assert entries[0]["time"] >= entries[1]["time"] >= entries[2]["time"]
    page = http.get(f"{NATIVE}/{name}/aliases/champion/history",
                    params={"max_results": 2}).json()
    assert [e["version"] for e in page["history"]] == ["3", "2"]
    rest = history(http, name, max_results=2, page_token=page["next_page_token"])
    assert [e["version"] for e in rest] == ["1"]


def test_as_of_answers_the_target_at_each_past_moment(
        http: httpx.Client, make_model: Callable[[httpx.Client], str]) -> None:
    name = make_model(http)
    moments = []
    for version in (1, 2, 3):
        assert move(http, name, version).status_code == 200
        time.sleep(0.01)
        moments.append(int(time.time() * 1000))
        time.sleep(0.01)
    for version, moment in zip((1, 2, 3), moments, strict=True):
        answer = http.get(f"{NATIVE}/{name}/aliases/champion", params={"as_of": moment})
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == str(version)
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moments[0] / 1000 - 3600))
    before = http.get(f"{NATIVE}/{name}/aliases/champion", params={"as_of": iso + "Z"})
    assert before.status_code == 404, before.text
    bad = http.get(f"{NATIVE}/{name}/aliases/champion", params={"as_of": "yesterday"})
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["message"]


def test_concurrent_compare_and_set_has_one_winner(
        http: httpx.Client, make_model: Callable[[httpx.Client], str]) -> None:
    name = make_model(http)
    assert move(http, name, 1).status_code == 200

    def attempt(i: int) -> httpx.Response:
        with http_clients.Client(base_url=str(http.base_url), timeout=30) as client:
            return move(client, name, 2 + i % 2, f"race {i}", expected_version="1")

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(attempt, range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 19, [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()["version"]
    for lost in (a for a in answers if a.status_code == 409):
        assert lost.json()["current_version"] == winner
        assert lost.json()["error_code"] == "RESOURCE_CONFLICT"
    assert [e["version"] for e in history(http, name)] == [winner, "1"]
    # null: only if unset
    unset = http.put(f"{NATIVE}/{name}/aliases/canary",
                     json={"version": "1", "expected_version": None})
    assert unset.status_code == 200, unset.text
    again = http.put(f"{NATIVE}/{name}/aliases/canary",
                     json={"version": "2", "expected_version": None})
    assert again.status_code == 409 and again.json()["current_version"] == "1"


def test_rollback_restores_previous_target(http: httpx.Client,
                                           make_model: Callable[[httpx.Client], str]) -> None:
    name = make_model(http)
    nothing = http.post(f"{NATIVE}/{name}/aliases/champion/rollback", json={})
    assert nothing.status_code == 400, nothing.text
    move(http, name, 1)
    move(http, name, 3, "bad promotion")
    back = http.post(f"{NATIVE}/{name}/aliases/champion/rollback",
                     json={"reason": "v3 broke checkout"})
    assert back.status_code == 200, back.text
    assert back.json()["version"] == "1"
    assert http.get(f"{NATIVE}/{name}/aliases/champion").json()["version"] == "1"
    latest = history(http, name)[0]
    assert (latest["version"], latest["previous_version"], latest["reason"]) == (
        "1", "3", "v3 broke checkout")
    audit = http.get("/api/modelyard/v1/audit", params={
        "object": name, "action": "registered_model.set_alias"}).json()["events"]
    moves = [((e["before"] or {}).get("version"), e["after"]["version"]) for e in audit]
    assert sorted(moves, key=str) == sorted([(None, 1), (1, 3), (3, 1)], key=str)


def test_stage_tag_and_description_history(http: httpx.Client) -> None:
    from tests.api.history.conftest import MLFLOW, workspace_model

    name = workspace_model(http, versions=1)
    http.post(f"{MLFLOW}/model-versions/transition-stage",
              json={"name": name, "version": "1", "stage": "Staging",
                    "archive_existing_versions": False})
    http.post(f"{MLFLOW}/model-versions/set-tag",
              json={"name": name, "version": "1", "key": "k", "value": "a"})
    http.post(f"{MLFLOW}/model-versions/set-tag",
              json={"name": name, "version": "1", "key": "k", "value": "b"})
    http.patch(f"{MLFLOW}/registered-models/update", json={"name": name, "description": "d1"})
    entries = http.get(f"{NATIVE}/{name}/history").json()["history"]
    got = [(e["kind"], e["subject"], e["version"], e["value"], e["previous_value"])
           for e in entries if e["kind"] != "version"]
    assert got == [("description", None, None, "d1", None), ("tag", "k", 1, "b", "a"),
                   ("tag", "k", 1, "a", None), ("stage", None, 1, "Staging", "None")]
    stages = http.get(f"{NATIVE}/{name}/history", params={"kind": "stage", "version": 1})
    assert [e["value"] for e in stages.json()["history"]] == ["Staging"]


def test_what_a_model_and_version_are_created_with_is_their_first_history(
        http: httpx.Client, server: ServerProcess) -> None:
    """Created by the mlflow client with tags and descriptions: those are the first entries,
    and the next tag change knows the value before it."""
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    name = f"hist-made-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name, tags={"team": "risk"}, description="scores")
    client.create_model_version(name, "s3://b/m", tags={"validated": "no"}, description="v1")
    client.set_model_version_tag(name, "1", "validated", "yes")
    entries = http.get(f"{NATIVE}/{name}/history").json()["history"]
    got = [(e["kind"], e["subject"], e["version"], e["value"], e["previous_value"])
           for e in entries]
    assert got == [("tag", "validated", 1, "yes", "no"),
                   ("tag", "validated", 1, "no", None), ("description", None, 1, "v1", None),
                   ("version", None, 1, "1", None),
                   ("tag", "team", None, "risk", None),
                   ("description", None, None, "scores", None)]
