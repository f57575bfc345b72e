"""Whatever a client sends as a filter or a name, the server answers 200 or 400, never a 5xx."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

API = "/api/2.0/mlflow"

# Pieces of the filter language, so that generated strings are often almost valid.
_fragments = st.sampled_from([
    "name", "tags.", "tag.`", "attribute.", "run_id", "version_number", "source_path", "`", "'",
    '"', "=", "!=", "<", ">=", " LIKE ", " ILIKE ", " IN ", " NOT IN ", " AND ", " OR ", "(",
    ")", ",", "%", "_", "1", "1.5", "-3", "x", "mlflow.prompt.is_prompt", " ", "\\", "\x00", "é",
])
filters = st.one_of(st.text(max_size=60), st.lists(_fragments, max_size=12).map("".join))
_settings = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings
@given(filter_string=filters, order=st.text(max_size=30))
def test_any_model_filter_is_200_or_400(http: httpx.Client, filter_string: str,
                                        order: str) -> None:
    response = http.get(API + "/registered-models/search",
                        params={"filter": filter_string, "order_by": order})
    assert response.status_code in (200, 400), response.text
    assert "error_code" in response.json() or "registered_models" in response.json()


@_settings
@given(filter_string=filters)
def test_any_version_filter_is_200_or_400(http: httpx.Client, filter_string: str) -> None:
    response = http.get(API + "/model-versions/search", params={"filter": filter_string})
    assert response.status_code in (200, 400), response.text


@_settings
@given(name=st.text(max_size=300), alias=st.text(max_size=40), key=st.text(max_size=40))
def test_any_name_is_200_or_4xx(http: httpx.Client, name: str, alias: str, key: str) -> None:
    created = http.post(API + "/registered-models/create", json={"name": name})
    assert created.status_code in (200, 400), created.text
    if created.status_code != 200:
        return
    assert http.get(API + "/registered-models/get", params={"name": name}).status_code == 200
    version = http.post(API + "/model-versions/create", json={"name": name, "source": "s3://b"})
    assert version.status_code == 200
    for response in (
        http.post(API + "/registered-models/alias", json={"name": name, "alias": alias,
                                                          "version": "1"}),
        http.get(API + "/registered-models/alias", params={"name": name, "alias": alias}),
        http.post(API + "/registered-models/set-tag", json={"name": name, "key": key,
                                                            "value": alias}),
        http.post(API + "/registered-models/rename", json={"name": name, "new_name": name + key}),
    ):
        assert response.status_code in (200, 400, 404), response.text


@_settings
@given(value=st.text(max_size=50), description=st.text(max_size=50))
def test_any_tag_value_or_description_is_200_or_400(
    http: httpx.Client, unique_name: str, value: str, description: str
) -> None:
    http.post(API + "/registered-models/create", json={"name": unique_name})
    for response in (
        http.post(API + "/registered-models/set-tag",
                  json={"name": unique_name, "key": "k", "value": value}),
        http.patch(API + "/registered-models/update",
                   json={"name": unique_name, "description": description}),
        http.post(API + "/model-versions/create",
                  json={"name": unique_name, "source": value or "s", "run_id": description}),
        http.get(API + "/registered-models/search", params={"filter": f"name = '{value}'"}),
    ):
        assert response.status_code in (200, 400), response.text
