"""Every error of the MLflow dialect: its error_code, its 4xx status, and nothing half-written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

API = "/api/2.0/mlflow"


def call(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None,
         params: dict[str, Any] | None = None) -> httpx.Response:
    if method == "GET":
        return http.get(API + path, params=params or body)
    return http.request(method, API + path, json=body)


def expect_error(response: httpx.Response, status: int, code: str, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert fragment in body["message"]


@pytest.fixture()
def model(http: httpx.Client, unique_name: str) -> str:
    assert call(http, "POST", "/registered-models/create", {"name": unique_name}).status_code == 200
    assert call(http, "POST", "/model-versions/create",
                {"name": unique_name, "source": "s3://b/p"}).status_code == 200
    return unique_name


def test_unknown_model_and_version(http: httpx.Client, model: str) -> None:
    expect_error(call(http, "GET", "/registered-models/get", {"name": "nope-x"}), 404,
                 "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=nope-x not found")
    expect_error(call(http, "GET", "/model-versions/get", {"name": model, "version": "99"}), 404,
                 "RESOURCE_DOES_NOT_EXIST", f"Model Version (name={model}, version=99) not found")
    expect_error(call(http, "POST", "/model-versions/create",
                      {"name": "nope-model", "source": "s3://b/p"}),
                 404, "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=nope-model not found")
    expect_error(call(http, "DELETE", "/model-versions/delete", {"name": model, "version": "99"}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    expect_error(call(http, "GET", "/model-versions/get-download-uri",
                      {"name": model, "version": "42"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_duplicates(http: httpx.Client, model: str, unique_name: str) -> None:
    expect_error(call(http, "POST", "/registered-models/create", {"name": model}), 400,
                 "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={model}) already exists.")
    other = unique_name + "-other"
    call(http, "POST", "/registered-models/create", {"name": other})
    expect_error(call(http, "POST", "/registered-models/rename",
                      {"name": model, "new_name": other}), 400, "RESOURCE_ALREADY_EXISTS")
    # The failed rename changed nothing.
    assert call(http, "GET", "/registered-models/get", {"name": model}).status_code == 200


def test_aliases(http: httpx.Client, model: str) -> None:
    expect_error(call(http, "GET", "/registered-models/alias", {"name": model, "alias": "nope"}),
                 400, "INVALID_PARAMETER_VALUE", "Registered model alias nope not found.")
    for reserved, fragment in (("v1", "reserved"), ("V12", "reserved"), ("latest", "reserved"),
                               ("LATEST", "reserved"), ("bad alias!", "Invalid alias name")):
        expect_error(call(http, "POST", "/registered-models/alias",
                          {"name": model, "alias": reserved, "version": "1"}),
                     400, "INVALID_PARAMETER_VALUE", fragment)
    expect_error(call(http, "POST", "/registered-models/alias",
                      {"name": model, "alias": "ok", "version": "99"}),
                 404, "RESOURCE_DOES_NOT_EXIST", "version=99")
    latest = call(http, "GET", "/registered-models/alias", {"name": model, "alias": "latest"})
    assert latest.status_code == 200 and latest.json()["model_version"]["version"] == "1"
    # Deleting an alias that is not there is not an error.
    assert call(http, "DELETE", "/registered-models/alias",
                {"name": model, "alias": "never"}).status_code == 200


def test_bad_parameters(http: httpx.Client, model: str) -> None:
    expect_error(call(http, "GET", "/registered-models/get", {}), 400,
                 "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'")
    expect_error(call(http, "POST", "/registered-models/create", {}), 400,
                 "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'")
    expect_error(call(http, "POST", "/registered-models/create", {"name": 5}), 400,
                 "INVALID_PARAMETER_VALUE", "Invalid value 5 for parameter 'name'")
    expect_error(call(http, "GET", "/model-versions/get", {"name": model, "version": "abc"}),
                 400, "INVALID_PARAMETER_VALUE",
                 "Parameter 'version' must be an integer, got 'abc'")
    for bad in ("bad/name", "bad:name"):
        expect_error(call(http, "POST", "/registered-models/create", {"name": bad}), 400,
                     "INVALID_PARAMETER_VALUE", "Names cannot contain '/' or ':'")
    expect_error(call(http, "POST", "/model-versions/transition-stage",
                      {"name": model, "version": "1", "stage": "Bogus",
                       "archive_existing_versions": False}),
                 400, "INVALID_PARAMETER_VALUE", "Invalid Model Version stage: Bogus")
    expect_error(call(http, "POST", "/model-versions/transition-stage",
                      {"name": model, "version": "1", "stage": "Archived",
                       "archive_existing_versions": True}),
                 400, "INVALID_PARAMETER_VALUE", "not an Active stage")
    expect_error(call(http, "POST", "/model-versions/create", {"name": model}), 400,
                 "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'source'")
    expect_error(call(http, "POST", "/registered-models/set-tag",
                      {"name": model, "key": "../x", "value": "v"}), 400, "INVALID_PARAMETER_VALUE")


def test_malformed_body_is_a_400(http: httpx.Client) -> None:
    response = http.post(API + "/registered-models/create", content=b"{not json",
                         headers={"Content-Type": "application/json"})
    expect_error(response, 400, "MALFORMED_REQUEST", "Malformed JSON")
    response = http.post(API + "/registered-models/create", json=["a", "list"])
    expect_error(response, 400, "MALFORMED_REQUEST", "JSON object")


def test_a_nul_character_is_refused_wherever_it_hides(http: httpx.Client, model: str) -> None:
    # No text column can hold a NUL: a 400 that names the parameter, and nothing written.
    expect_error(call(http, "GET", "/registered-models/get", {"name": model + "\x00"}), 400,
                 "INVALID_PARAMETER_VALUE", "Parameter 'name' contains a NUL character")
    expect_error(call(http, "POST", "/registered-models/create",
                      {"name": model + "-2", "tags": [{"key": "k", "value": "a\x00b"}]}),
                 400, "INVALID_PARAMETER_VALUE", "Parameter 'tags' contains a NUL character")
    expect_error(call(http, "GET", "/registered-models/get", {"name": model + "-2"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    # The six characters \u0000 are text, not a NUL: kept as they were sent.
    text = "\\u0000 and %00"
    assert call(http, "POST", "/registered-models/set-tag",
                {"name": model, "key": "k", "value": text}).status_code == 200
    got = call(http, "GET", "/registered-models/get", {"name": model}).json()
    assert {"key": "k", "value": text} in got["registered_model"]["tags"]


def test_search_limits_and_tokens(http: httpx.Client) -> None:
    expect_error(call(http, "GET", "/registered-models/search", {"max_results": 1001}), 400,
                 "INVALID_PARAMETER_VALUE", "max_results")
    expect_error(call(http, "GET", "/registered-models/search", {"max_results": "abc"}), 400,
                 "INVALID_PARAMETER_VALUE", "max_results")
    assert call(http, "GET", "/registered-models/search", {"max_results": 0}).status_code == 200
    assert call(http, "GET", "/registered-models/search", {"max_results": 1000}).status_code == 200
    expect_error(call(http, "GET", "/model-versions/search", {"max_results": 0}), 400,
                 "INVALID_PARAMETER_VALUE", "must be a positive integer")
    expect_error(call(http, "GET", "/model-versions/search", {"max_results": 200001}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert call(http, "GET", "/model-versions/search",
                {"max_results": 200000}).status_code == 200
    expect_error(call(http, "GET", "/registered-models/search", {"page_token": "%%%"}), 400,
                 "INVALID_PARAMETER_VALUE", "Invalid page token")


def test_unknown_endpoint_is_endpoint_not_found(http: httpx.Client) -> None:
    expect_error(http.get(API + "/registered-models/nonexistent"), 404, "ENDPOINT_NOT_FOUND")


def test_idempotent_deletes(http: httpx.Client, model: str) -> None:
    assert call(http, "DELETE", "/registered-models/delete-tag",
                {"name": model, "key": "nokey"}).status_code == 200
    assert call(http, "DELETE", "/model-versions/delete-tag",
                {"name": model, "version": "1", "key": "nokey"}).status_code == 200


def test_get_latest_versions_answers_post_and_get(http: httpx.Client, model: str) -> None:
    post = call(http, "POST", "/registered-models/get-latest-versions", {"name": model})
    get = http.get(API + "/registered-models/get-latest-versions",
                   params=[("name", model), ("stages", "None"), ("stages", "Staging")])
    assert post.status_code == get.status_code == 200
    assert [v["version"] for v in post.json()["model_versions"]] == ["1"]
    assert [v["version"] for v in get.json()["model_versions"]] == ["1"]
    expect_error(call(http, "POST", "/registered-models/get-latest-versions",
                      {"name": model, "stages": ["Nope"]}), 400, "INVALID_PARAMETER_VALUE")


def test_success_is_200_with_a_json_object(http: httpx.Client, model: str) -> None:
    response = call(http, "POST", "/registered-models/set-tag",
                    {"name": model, "key": "k", "value": "v"})
    assert response.status_code == 200 and response.json() == {}
    assert response.headers["content-type"].startswith("application/json")
