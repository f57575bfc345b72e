"""Unity Catalog lists for a caller who may see only some objects: full pages, every visible
object exactly once across the page tokens, nothing hidden, and the same answer a GET gives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.identity.conftest import AuthServer, Principal

UC = "/api/2.1/unity-catalog"


@dataclass
class Listing:
    prefix: str
    catalogs: list[str]  # ten catalogs
    schemas: list[str]  # ten schemas in catalogs[1], full names
    models: list[str]  # ten models in schemas[2], full names
    user: Principal
    seen_catalogs: set[str]
    seen_schemas: set[str]
    seen_models: set[str]


def _grant(admin: httpx.Client, securable: str, name: str, principal: str,
           privileges: list[str]) -> None:
    response = admin.patch(f"{UC}/permissions/{securable}/{name}", json={
        "changes": [{"principal": principal, "add": privileges}]})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def listing(auth_server: AuthServer) -> Iterator[Listing]:
    """Ten catalogs, ten schemas in one, ten models in one schema; the user may see three of
    each, through different kinds of grant (its own, its group's, BROWSE, ALL PRIVILEGES)."""
    prefix = f"l{uuid.uuid4().hex[:8]}"
    group = auth_server.new_group("listers")
    user = auth_server.new_user("lister")
    auth_server.add_member(group.id, user.id)
    catalogs = [f"{prefix}_c{i}" for i in range(10)]
    home = catalogs[1]
    schemas = [f"{home}.s{i}" for i in range(10)]
    shelf = schemas[2]
    models = [f"{shelf}.m{i}" for i in range(10)]
    with auth_server.admin() as admin:
        for name in catalogs:
            assert admin.post(f"{UC}/catalogs", json={"name": name}).status_code == 200
        for full in schemas:
            assert admin.post(f"{UC}/schemas", json={"catalog_name": home,
                                                     "name": full.split(".")[1]}).status_code == 200
        for full in models:
            made = admin.post(f"{UC}/models", json={"catalog_name": home, "schema_name": "s2",
                                                    "name": full.split(".")[2]})
            assert made.status_code == 200, made.text
        _grant(admin, "catalog", catalogs[1], user.name, ["USE_CATALOG"])
        _grant(admin, "catalog", catalogs[4], user.name, ["BROWSE"])
        _grant(admin, "catalog", catalogs[8], group.name, ["USE_CATALOG"])
        _grant(admin, "schema", schemas[2], user.name, ["USE_SCHEMA"])
        _grant(admin, "schema", schemas[5], group.name, ["ALL_PRIVILEGES"])
        _grant(admin, "schema", schemas[9], user.name, ["BROWSE"])
        _grant(admin, "function", models[0], user.name, ["EXECUTE"])
        _grant(admin, "function", models[3], group.name, ["APPLY_TAG"])
        _grant(admin, "function", models[7], user.name, ["BROWSE"])
        # Privileges that do not make an object visible on their own.
        _grant(admin, "catalog", catalogs[6], user.name, ["CREATE_SCHEMA"])
        _grant(admin, "schema", schemas[6], user.name, ["CREATE_MODEL"])
    yield Listing(prefix, catalogs, schemas, models, user,
                  {catalogs[1], catalogs[4], catalogs[8]},
                  {schemas[2], schemas[5], schemas[9]},
                  {models[0], models[3], models[7]})
    with auth_server.admin() as admin:
        for name in catalogs:
            admin.delete(f"{UC}/catalogs/{name}", params={"force": "true"})


def _walk(client: httpx.Client, path: str, key: str, field: str,
          params: dict[str, str] | None = None, max_results: int = 2,
          ) -> list[list[str]]:
    """Every page of a list, following next_page_token: the names on each page."""
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        query = {**(params or {}), "max_results": str(max_results)}
        if token:
            query["page_token"] = token
        response = client.get(f"{UC}{path}", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item[field] for item in body.get(key, [])])
        token = body.get("next_page_token")
        if not token:
            return pages
        assert len(pages) < 1000, "the page tokens never end"


LISTS = {
    "catalogs": ("/catalogs", "catalogs", "name"),
    "schemas": ("/schemas", "schemas", "full_name"),
    "models": ("/models", "registered_models", "full_name"),
}


def _list_args(listing: Listing, kind: str) -> tuple[str, str, str, dict[str, str]]:
    path, key, field = LISTS[kind]
    params = {"catalogs": {}, "schemas": {"catalog_name": listing.catalogs[1]},
              "models": {"catalog_name": listing.catalogs[1], "schema_name": "s2"}}[kind]
    return path, key, field, params


def _seen(listing: Listing, kind: str) -> set[str]:
    return {"catalogs": listing.seen_catalogs, "schemas": listing.seen_schemas,
            "models": listing.seen_models}[kind]


def _all(listing: Listing, kind: str) -> list[str]:
    return {"catalogs": listing.catalogs, "schemas": listing.schemas,
            "models": listing.models}[kind]


@pytest.mark.parametrize("kind", list(LISTS))
def test_pages_of_a_partial_view_are_full(auth_server: AuthServer, listing: Listing,
                                          kind: str) -> None:
    path, key, field, params = _list_args(listing, kind)
    with auth_server.client(listing.user.token) as client:
        pages = _walk(client, path, key, field, params)
    assert [len(page) for page in pages] == [2, 1]
    names = [name for page in pages for name in page]
    assert names == sorted(_seen(listing, kind))


@pytest.mark.parametrize("kind", list(LISTS))
def test_admin_pages_through_everything(auth_server: AuthServer, listing: Listing,
                                        kind: str) -> None:
    path, key, field, params = _list_args(listing, kind)
    with auth_server.admin() as admin:
        pages = _walk(admin, path, key, field, params)
    assert all(len(page) == 2 for page in pages[:-1])
    names = [name for page in pages for name in page]
    assert len(names) == len(set(names))
    assert [n for n in names if n.startswith(listing.prefix)] == _all(listing, kind)


def test_metastore_wide_model_list_shows_only_visible_models(auth_server: AuthServer,
                                                             listing: Listing) -> None:
    with auth_server.client(listing.user.token) as client:
        pages = _walk(client, "/models", "registered_models", "full_name", max_results=1)
    names = [name for page in pages for name in page]
    assert all(len(page) == 1 for page in pages)
    assert [n for n in names if n.startswith(listing.prefix)] == sorted(listing.seen_models)


@pytest.mark.parametrize("kind", list(LISTS))
def test_listed_exactly_when_readable(auth_server: AuthServer, listing: Listing,
                                      kind: str) -> None:
    """The list query and the per-object check (GET) apply the same rules."""
    path, key, field, params = _list_args(listing, kind)
    with auth_server.client(listing.user.token) as client:
        listed = {n for page in _walk(client, path, key, field, params, 100) for n in page}
        readable = {name for name in _all(listing, kind)
                    if client.get(f"{UC}{path}/{name}").status_code == 200}
    assert listed == readable == _seen(listing, kind)
