"""Every change of a model moves its `last_updated_timestamp`; a version's tag moves the
version's. (The store sets the update time in the same UPDATE that refreshes the model's
summary, so each of these paths is checked on its own.)"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

API = "/api/2.0/mlflow"


def _model_updated(http: httpx.Client, name: str) -> int:
    response = http.get(API + "/registered-models/get", params={"name": name})
    assert response.status_code == 200, response.text
    return int(response.json()["registered_model"]["last_updated_timestamp"])


def _version_updated(http: httpx.Client, name: str, version: int) -> int:
    response = http.get(API + "/model-versions/get", params={"name": name, "version": version})
    assert response.status_code == 200, response.text
    return int(response.json()["model_version"]["last_updated_timestamp"])


def _ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


def test_each_change_moves_the_update_time(http: httpx.Client, unique_name: str) -> None:
    name = unique_name
    _ok(http.post(API + "/registered-models/create", json={"name": name}))
    for _ in range(2):
        _ok(http.post(API + "/model-versions/create", json={"name": name, "source": "s3://b/m"}))

    model_changes: list[tuple[str, Callable[[], httpx.Response]]] = [
        ("set tag", lambda: http.post(API + "/registered-models/set-tag",
                                      json={"name": name, "key": "team", "value": "ml"})),
        ("set alias", lambda: http.post(API + "/registered-models/alias",
                                        json={"name": name, "alias": "champion",
                                              "version": "2"})),
        ("delete alias", lambda: http.request("DELETE", API + "/registered-models/alias",
                                              json={"name": name, "alias": "champion"})),
        ("create version", lambda: http.post(API + "/model-versions/create",
                                             json={"name": name, "source": "s3://b/m"})),
        ("delete version", lambda: http.request("DELETE", API + "/model-versions/delete",
                                                json={"name": name, "version": "3"})),
    ]
    for what, change in model_changes:
        before = _model_updated(http, name)
        time.sleep(0.005)
        _ok(change())
        assert _model_updated(http, name) > before, what

    before = _version_updated(http, name, 1)
    time.sleep(0.005)
    _ok(http.post(API + "/model-versions/set-tag",
                  json={"name": name, "version": "1", "key": "ok", "value": "yes"}))
    assert _version_updated(http, name, 1) > before
    # Version 3 was deleted: its number is not handed out again.
    created = http.post(API + "/model-versions/create", json={"name": name, "source": "s3://b/m"})
    _ok(created)
    assert created.json()["model_version"]["version"] == "4"
