"""The filter grammar and order_by keys of the registry search, over HTTP."""

from __future__ import annotations

import httpx
import pytest

API = "/api/2.0/mlflow"


@pytest.fixture()
def catalog(http: httpx.Client, unique_name: str) -> str:
    """Three models under one prefix, with tags, versions and a prompt."""
    p = unique_name
    models = {f"{p}-demo": {"team": "ml"}, f"{p}-other-1": {"team": "Data"}, f"{p}-other-2": {}}
    for name, tags in models.items():
        http.post(API + "/registered-models/create",
                  json={"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]})
    for i in range(3):
        http.post(API + "/model-versions/create",
                  json={"name": f"{p}-demo", "source": f"models:/m-{i}", "run_id": f"run{i}",
                        "tags": [{"key": "k", "value": f"v{i}"}]})
    http.post(API + "/registered-models/create", json={
        "name": f"{p}-greet", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    http.post(API + "/model-versions/create", json={
        "name": f"{p}-greet", "source": "dummy-source",
        "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    return p


def model_names(http: httpx.Client, filter_string: str, **params: object) -> list[str]:
    response = http.get(API + "/registered-models/search",
                        params={"filter": filter_string, **params})
    assert response.status_code == 200, response.text
    return [m["name"] for m in response.json()["registered_models"]]


def version_keys(http: httpx.Client, filter_string: str, **params: object) -> list[str]:
    response = http.get(API + "/model-versions/search", params={"filter": filter_string, **params})
    assert response.status_code == 200, response.text
    return [f"{v['name']}/{v['version']}" for v in response.json()["model_versions"]]


def test_model_filters(http: httpx.Client, catalog: str) -> None:
    p = catalog
    prompt_guard = " AND tag.`mlflow.prompt.is_prompt` != 'true'"
    assert model_names(http, f"name = '{p}-demo'") == [f"{p}-demo"]
    assert model_names(http, f'name = "{p}-demo"') == [f"{p}-demo"]
    assert model_names(http, f"attribute.name = '{p}-demo'") == [f"{p}-demo"]
    assert model_names(http, f"name LIKE '{p}-other%'") == [f"{p}-other-1", f"{p}-other-2"]
    assert model_names(http, f"name LIKE '{p.upper()}-OTHER%'") == []  # LIKE is case-sensitive
    assert model_names(http, f"name ILIKE '{p.upper()}-OTHER%'") == [f"{p}-other-1",
                                                                      f"{p}-other-2"]
    assert model_names(http, f"name IN ('{p}-demo', '{p}-other-1')") == [f"{p}-demo",
                                                                          f"{p}-other-1"]
    assert model_names(http, f"name LIKE '{p}%' AND name NOT IN ('{p}-demo')" + prompt_guard) == [
        f"{p}-other-1", f"{p}-other-2"]
    assert model_names(http, f"name LIKE '{p}%' AND name != '{p}-demo'" + prompt_guard) == [
        f"{p}-other-1", f"{p}-other-2"]
    assert model_names(http, f"name LIKE '{p}%' AND tags.team = 'ml'") == [f"{p}-demo"]
    assert model_names(http, f"name LIKE '{p}%' AND tags.`team` LIKE 'm%'") == [f"{p}-demo"]
    assert model_names(http, f"name LIKE '{p}%' AND tag.team ILIKE 'D%'") == [f"{p}-other-1"]
    # A model without the tag does not match != ...
    assert model_names(http, f"name LIKE '{p}%' AND tags.team != 'ml'") == [f"{p}-other-1"]
    # ... except the prompt marker, whose absence means "not a prompt".
    assert model_names(http, f"name LIKE '{p}%'" + prompt_guard) == [
        f"{p}-demo", f"{p}-other-1", f"{p}-other-2"]
    assert model_names(http, f"name LIKE '{p}%' AND tags.`mlflow.prompt.is_prompt` = 'false'") \
        == [f"{p}-demo", f"{p}-other-1", f"{p}-other-2"]
    assert model_names(http, f"name LIKE '{p}%' AND tags.`mlflow.prompt.is_prompt` = 'true'") \
        == [f"{p}-greet"]


def test_version_filters(http: httpx.Client, catalog: str) -> None:
    d = f"{catalog}-demo"
    assert version_keys(http, f"name = '{d}'", order_by="version_number ASC") == [
        f"{d}/1", f"{d}/2", f"{d}/3"]
    assert version_keys(http, f"name = '{d}' AND run_id = 'run1'") == [f"{d}/2"]
    assert version_keys(http, f"name = '{d}' AND run_id IN ('run0', 'zzz')") == [f"{d}/1"]
    assert version_keys(http, f"name = '{d}' AND run_id NOT IN ('run0')",
                        order_by="version_number ASC") == [f"{d}/2", f"{d}/3"]
    assert version_keys(http, f"name = '{d}' AND source_path = 'models:/m-2'") == [f"{d}/3"]
    assert version_keys(http, f"name = '{d}' AND source_path LIKE 'models:%'",
                        order_by="version_number DESC") == [f"{d}/3", f"{d}/2", f"{d}/1"]
    assert version_keys(http, f"name = '{d}' AND version_number >= 2",
                        order_by="version_number ASC") == [f"{d}/2", f"{d}/3"]
    assert version_keys(http, f"name = '{d}' AND version_number < 2") == [f"{d}/1"]
    assert version_keys(http, f"name = '{d}' AND version_number != 2",
                        order_by="version_number ASC") == [f"{d}/1", f"{d}/3"]
    assert version_keys(http, f"name = '{d}' AND tags.k = 'v1'") == [f"{d}/2"]
    assert version_keys(http, f"name = '{d}' AND tag.k != 'v1'",
                        order_by="version_number ASC") == [f"{d}/1", f"{d}/3"]
    # Prompt versions are left out unless asked for.
    assert version_keys(http, f"name = '{catalog}-greet'") == []
    assert version_keys(
        http, f"name = '{catalog}-greet' AND tags.`mlflow.prompt.is_prompt` = 'true'"
    ) == [f"{catalog}-greet/1"]


def test_order_by(http: httpx.Client, catalog: str) -> None:
    p = catalog
    names = model_names(http, f"name LIKE '{p}-%'", order_by="name DESC")
    assert names == sorted(names, reverse=True)
    # The most recently changed model first.
    http.post(API + "/registered-models/set-tag",
              json={"name": f"{p}-other-1", "key": "touched", "value": "1"})
    assert model_names(http, f"name LIKE '{p}-%'", order_by="timestamp DESC")[0] == f"{p}-other-1"
    assert model_names(http, f"name LIKE '{p}-%'",
                       order_by="last_updated_timestamp ASC")[-1] == f"{p}-other-1"
    d = f"{p}-demo"
    assert version_keys(http, f"name = '{d}'", order_by="creation_timestamp ASC")[0] == f"{d}/1"
    assert version_keys(http, f"name = '{d}'")[0] == f"{d}/3"  # last updated first


@pytest.mark.parametrize(
    ("path", "filter_string", "fragment"),
    [
        ("registered-models", "name = 'a' OR name = 'b'", "Only AND"),
        ("registered-models", "`name` = 'a'", "Invalid attribute key '`name`'"),
        ("registered-models", "creation_timestamp > 0", "Invalid attribute key"),
        ("registered-models", "description = 'x'", "Invalid attribute key 'description'"),
        ("registered-models", "name LIKE demo", "quoted"),
        ("registered-models", "bogus filter", "column 7"),
        ("registered-models", "name = ", "ends too early"),
        ("registered-models", "name > 'a'", "Invalid comparator '>'"),
        ("registered-models", "tags.team IN ('a')", "Invalid comparator 'IN'"),
        ("registered-models", "tags.team IS NULL", "column 11"),
        ("model-versions", "version_number > 1.5", "numeric attribute 'version_number': 1.5"),
        ("model-versions", "version_number IN (1, 2)", "Invalid comparator 'IN'"),
        ("model-versions", "current_stage = 'Staging'", "Invalid attribute key 'current_stage'"),
        ("model-versions", "source_path IN ('a')", "Invalid comparator 'IN'"),
        ("model-versions", "name = 'a' AND", "ends too early"),
    ],
)
def test_malformed_filters_say_what_and_where(
    http: httpx.Client, path: str, filter_string: str, fragment: str
) -> None:
    response = http.get(f"{API}/{path}/search", params={"filter": filter_string})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert fragment in response.json()["message"]


@pytest.mark.parametrize(
    ("path", "order_by", "fragment"),
    [
        ("registered-models", ["creation_timestamp DESC"], "Invalid order by key"),
        ("registered-models", ["tags.x DESC"], "Invalid order by key"),
        ("registered-models", ["name ASC", "name DESC"], "duplicate"),
        ("registered-models", ["timestamp", "last_updated_timestamp"], "duplicate"),
        ("registered-models", ["name SIDEWAYS"], "direction"),
        ("model-versions", ["run_id DESC"], "Invalid order by key"),
        ("model-versions", ["source_path"], "Invalid order by key"),
    ],
)
def test_bad_order_by(http: httpx.Client, path: str, order_by: list[str], fragment: str) -> None:
    response = http.get(f"{API}/{path}/search", params={"order_by": order_by})
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_a_search_hit_is_the_model_that_get_returns(http: httpx.Client, unique_name: str) -> None:
    """Search renders straight from rows, get from one point read: both give the same model,
    latest version of each stage, tags and aliases included, in the same order."""
    name = f"{unique_name}-full"
    http.post(API + "/registered-models/create", json={
        "name": name, "tags": [{"key": "zeta", "value": "1"}, {"key": "alpha", "value": "2"}]})
    for i in range(4):
        http.post(API + "/model-versions/create", json={
            "name": name, "source": f"models:/m-{i}",
            "tags": [{"key": "z", "value": str(i)}, {"key": "a", "value": "x"}]})
    for version, stage in (("1", "Production"), ("2", "Staging"), ("3", "Archived")):
        http.post(API + "/model-versions/transition-stage",
                  json={"name": name, "version": version, "stage": stage})
    for alias, version in (("zz", "2"), ("champion", "4"), ("best", "4")):
        http.post(API + "/registered-models/alias",
                  json={"name": name, "alias": alias, "version": version})

    got = http.get(API + "/registered-models/get", params={"name": name}).json()
    found = http.get(API + "/registered-models/search",
                     params={"filter": f"name = '{name}'"}).json()["registered_models"]
    assert found == [got["registered_model"]]
    model = got["registered_model"]
    assert [t["key"] for t in model["tags"]] == ["alpha", "zeta"]
    assert model["aliases"] == [{"alias": "best", "version": "4"},
                                {"alias": "champion", "version": "4"},
                                {"alias": "zz", "version": "2"}]
    latest = model["latest_versions"]
    assert [(v["version"], v["current_stage"]) for v in latest] == [
        ("1", "Production"), ("2", "Staging"), ("3", "Archived"), ("4", "None")]
    assert latest[3]["aliases"] == ["best", "champion"]
    assert latest[3]["tags"] == [{"key": "a", "value": "x"}, {"key": "z", "value": "3"}]

    staged = http.post(API + "/registered-models/get-latest-versions",
                       json={"name": name, "stages": ["None", "Production"]}).json()
    assert [v["version"] for v in staged["model_versions"]] == ["1", "4"]
    assert staged["model_versions"][1] == latest[3]


def test_name_prefixes_match_exactly_what_like_matches(http: httpx.Client,
                                                       unique_name: str) -> None:
    """`name LIKE 'prefix%'` is also answered from a byte-order range on PostgreSQL: the range
    must end right after the prefix, whatever its last character, and leave other patterns be."""
    p = unique_name
    names = [f"{p}-ab", f"{p}-ab1", f"{p}-ab~", f"{p}-ac", f"{p}-a_b", f"{p}-é1", f"{p}-ê"]
    for name in names:
        response = http.post(API + "/registered-models/create", json={"name": name})
        assert response.status_code == 200, response.text
    assert model_names(http, f"name LIKE '{p}-ab%'") == [f"{p}-ab", f"{p}-ab1", f"{p}-ab~"]
    assert model_names(http, f"name LIKE '{p}-a%'", max_results=2) == [f"{p}-a_b", f"{p}-ab"]
    assert model_names(http, f"name LIKE '{p}-é%'") == [f"{p}-é1"]
    assert model_names(http, f"name LIKE '{p}-a_%'") == [f"{p}-a_b", f"{p}-ab", f"{p}-ab1",
                                                          f"{p}-ab~", f"{p}-ac"]
    assert model_names(http, f"name LIKE '{p}-ab'") == [f"{p}-ab"]


def test_long_tag_values_are_stored_and_found_exactly(http: httpx.Client,
                                                      unique_name: str) -> None:
    """Tag values up to the 100,000-character limit fit on both engines (PostgreSQL refuses an
    index entry over 2,704 bytes), and `=` / `IN` match the whole value, not the indexed head."""
    p = unique_name
    long_value = "".join(f"{i:05d}" for i in range(4_000))  # 20,000 characters
    twin = long_value[:-1] + "x"  # the same first 64 characters (and more)
    for name, value in ((f"{p}-a", long_value), (f"{p}-b", twin)):
        created = http.post(API + "/registered-models/create", json={"name": name})
        assert created.status_code == 200, created.text
        tagged = http.post(API + "/registered-models/set-tag",
                           json={"name": name, "key": "blob", "value": value})
        assert tagged.status_code == 200, tagged.text
        version = http.post(API + "/model-versions/create", json={
            "name": name, "source": "s3://b/m", "tags": [{"key": "blob", "value": value}]})
        assert version.status_code == 200, version.text
    got = http.get(API + "/registered-models/get", params={"name": f"{p}-a"}).json()
    assert {"key": "blob", "value": long_value} in got["registered_model"]["tags"]
    assert model_names(http, f"tags.blob = '{long_value}'") == [f"{p}-a"]
    assert model_names(http, f"tags.blob = '{twin}'") == [f"{p}-b"]
    assert model_names(http, f"tags.blob = '{long_value[:64]}'") == []
    assert model_names(http, f"tags.blob LIKE '{long_value[:70]}%'") == [f"{p}-a", f"{p}-b"]
    assert version_keys(http, f"tags.blob = '{twin}'") == [f"{p}-b/1"]
    assert version_keys(http, f"tags.blob = '{long_value[:63]}'") == []


def test_tag_search_pages_in_name_order_across_renames(http: httpx.Client,
                                                       unique_name: str) -> None:
    """`tags.k = 'v'` ordered by name (ascending or descending) pages through every match once
    in name order, and a renamed model moves to its new name's place."""
    p = unique_name
    names = [f"{p}-{i:02d}" for i in range(12)]
    for i, name in enumerate(names):
        http.post(API + "/registered-models/create", json={
            "name": name, "tags": [{"key": "group", "value": p if i % 2 == 0 else "other"}]})
    renamed = http.post(API + "/registered-models/rename",
                        json={"name": names[2], "new_name": f"{p}-99-renamed"})
    assert renamed.status_code == 200, renamed.text
    expected = sorted([n for n in names[0::2] if n != names[2]] + [f"{p}-99-renamed"])

    def all_pages(order_by: str) -> list[str]:
        seen: list[str] = []
        token = None
        while True:
            params = {"filter": f"tags.group = '{p}'", "max_results": 2, "order_by": order_by}
            if token:
                params["page_token"] = token
            body = http.get(API + "/registered-models/search", params=params).json()
            seen += [m["name"] for m in body.get("registered_models", [])]
            token = body.get("next_page_token")
            if not token:
                return seen

    assert all_pages("name ASC") == expected
    assert all_pages("name DESC") == expected[::-1]
    # The tag travels with the model through set-tag on the new name, and the old name is gone.
    http.post(API + "/registered-models/set-tag",
              json={"name": f"{p}-99-renamed", "key": "group", "value": "moved"})
    assert model_names(http, f"tags.group = 'moved' AND name LIKE '{p}%'") == [f"{p}-99-renamed"]
    assert f"{p}-99-renamed" not in all_pages("name ASC")


def test_each_search_hit_has_its_own_latest_versions(http: httpx.Client, unique_name: str) -> None:
    """Latest versions are per model: a model's versions in other stages never show up in
    another model's hit (they did once, when the summary's per-stage maximum ran over every
    model), and deleting, re-staging and re-tagging versions shows in the next search."""
    stages = {"a": ["Production", "Staging", "None"], "b": ["None"] * 5,
              "c": ["Archived", "None"]}
    for suffix, model_stages in stages.items():
        name = f"{unique_name}-{suffix}"
        http.post(API + "/registered-models/create", json={"name": name})
        for number, stage in enumerate(model_stages, start=1):
            http.post(API + "/model-versions/create", json={"name": name, "source": "s3://b/m"})
            if stage != "None":
                http.post(API + "/model-versions/transition-stage",
                          json={"name": name, "version": str(number), "stage": stage})
    http.request("DELETE", API + "/model-versions/delete",
                 json={"name": f"{unique_name}-a", "version": "2"})
    http.post(API + "/model-versions/transition-stage",
              json={"name": f"{unique_name}-c", "version": "2", "stage": "Production"})
    http.post(API + "/model-versions/set-tag",
              json={"name": f"{unique_name}-b", "version": "5", "key": "k", "value": "v"})

    found = http.get(API + "/registered-models/search",
                     params={"filter": f"name LIKE '{unique_name}-%'"}).json()["registered_models"]
    latest = {hit["name"][-1]: [(v["version"], v["current_stage"]) for v in hit["latest_versions"]]
              for hit in found}
    assert latest == {"a": [("1", "Production"), ("3", "None")], "b": [("5", "None")],
                      "c": [("1", "Archived"), ("2", "Production")]}
    assert found[1]["latest_versions"][0]["tags"] == [{"key": "k", "value": "v"}]
    for hit in found:
        got = http.get(API + "/registered-models/get", params={"name": hit["name"]}).json()
        assert hit == got["registered_model"]
