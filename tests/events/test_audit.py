"""The audit trail: one event per mutation with the right actor, one per refusal, visible to
admins and to owners, and `modelyard audit verify` naming any tampered row."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.api.identity.conftest import AuthServer, Principal
from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.server import MODELYARD, ServerProcess

ML = "/api/2.0/mlflow"
SCIM = "/api/2.0/preview/scim/v2"
UC = "/api/2.1/unity-catalog"


def _events(auth_server: AuthServer, **filters: Any) -> list[dict[str, Any]]:
    with auth_server.admin() as admin:
        response = admin.get("/api/modelyard/v1/audit", params={"max_results": 1000, **filters})
    assert response.status_code == 200, response.text
    return response.json()["events"]


def _mutations(name: str, user: Principal) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, expected action, body) in an order that works."""
    catalog = f"cat_{uuid.uuid4().hex[:8]}"
    return [
        ("POST", f"{ML}/registered-models/create", "registered_model.create", {"name": name}),
        ("PATCH", f"{ML}/registered-models/update", "registered_model.update",
         {"name": name, "description": "d"}),
        ("POST", f"{ML}/registered-models/set-tag", "registered_model.set_tag",
         {"name": name, "key": "k", "value": "v"}),
        ("DELETE", f"{ML}/registered-models/delete-tag", "registered_model.delete_tag",
         {"name": name, "key": "k"}),
        ("POST", f"{ML}/model-versions/create", "model_version.create",
         {"name": name, "source": "s3://b/1"}),
        ("PATCH", f"{ML}/model-versions/update", "model_version.update",
         {"name": name, "version": "1", "description": "d"}),
        ("POST", f"{ML}/model-versions/set-tag", "model_version.set_tag",
         {"name": name, "version": "1", "key": "k", "value": "v"}),
        ("DELETE", f"{ML}/model-versions/delete-tag", "model_version.delete_tag",
         {"name": name, "version": "1", "key": "k"}),
        ("POST", f"{ML}/registered-models/alias", "registered_model.set_alias",
         {"name": name, "alias": "champion", "version": "1"}),
        ("DELETE", f"{ML}/registered-models/alias", "registered_model.delete_alias",
         {"name": name, "alias": "champion"}),
        ("POST", f"{ML}/model-versions/transition-stage", "model_version.transition_stage",
         {"name": name, "version": "1", "stage": "Staging"}),
        ("POST", f"{ML}/transition-requests/create", "transition_request.create",
         {"name": name, "version": "1", "stage": "Production"}),
        ("POST", f"{ML}/transition-requests/approve", "transition_request.approve",
         {"name": name, "version": "1", "stage": "Production",
          "archive_existing_versions": True}),
        ("POST", f"{ML}/transition-requests/create", "transition_request.create",
         {"name": name, "version": "1", "stage": "Archived"}),
        ("POST", f"{ML}/transition-requests/reject", "transition_request.reject",
         {"name": name, "version": "1", "stage": "Archived"}),
        ("POST", f"{ML}/transition-requests/create", "transition_request.create",
         {"name": name, "version": "1", "stage": "Archived"}),
        ("DELETE", f"{ML}/transition-requests/delete?name={name}&version=1&stage=Archived"
                   f"&creator={user.name}", "transition_request.delete", {}),
        ("POST", f"{ML}/comments/create", "comment.create",
         {"name": name, "version": "1", "comment": "hi"}),
        ("POST", f"{ML}/databricks/model-versions/transition-stage",
         "model_version.transition_stage",
         {"name": name, "version": "1", "stage": "Archived", "comment": "bye",
          "archive_existing_versions": False}),
        ("POST", f"{ML}/model-versions/create", "model_version.create",
         {"name": name, "source": "s3://b/2"}),
        ("DELETE", f"{ML}/model-versions/delete", "model_version.delete",
         {"name": name, "version": "2"}),
        ("POST", f"{ML}/registered-models/rename", "registered_model.rename",
         {"name": name, "new_name": name + "-r"}),
        ("DELETE", f"{ML}/registered-models/delete", "registered_model.delete",
         {"name": name + "-r"}),
        ("POST", "/api/2.0/token/create", "token.create", {"comment": "audit"}),
        ("POST", f"{UC}/catalogs", "catalog.create", {"name": catalog}),
        ("POST", f"{UC}/schemas", "schema.create", {"catalog_name": catalog, "name": "s"}),
        ("PATCH", f"{UC}/schemas/{catalog}.s", "schema.update", {"comment": "c"}),
        ("POST", f"{UC}/models", "registered_model.create",
         {"catalog_name": catalog, "schema_name": "s", "name": "m"}),
        ("PATCH", f"{UC}/models/{catalog}.s.m", "registered_model.update", {"comment": "c"}),
        ("POST", f"{UC}/models/versions", "model_version.create",
         {"catalog_name": catalog, "schema_name": "s", "model_name": "m", "source": "s3://b"}),
        ("PATCH", f"{UC}/models/{catalog}.s.m/versions/1", "model_version.update",
         {"comment": "c"}),
        ("PATCH", f"{UC}/permissions/function/{catalog}.s.m", "grants.update",
         {"changes": [{"principal": user.name, "add": ["EXECUTE"]}]}),
        ("DELETE", f"{UC}/models/{catalog}.s.m/versions/1", "model_version.delete", {}),
        ("POST", "/api/2.0/mlflow/unity-catalog/model-versions/create", "model_version.create",
         {"name": f"{catalog}.s.m", "source": "s3://b"}),
        ("DELETE", f"{UC}/models/{catalog}.s.m", "registered_model.delete", {}),
        ("DELETE", f"{UC}/schemas/{catalog}.s", "schema.delete", {}),
        ("DELETE", f"{UC}/catalogs/{catalog}", "catalog.delete", {}),
    ]


def test_every_mutation_is_one_event_with_its_actor(auth_server: AuthServer,
                                                    unique_name: str) -> None:
    user = auth_server.new_user("auditor")
    # UC catalogs need a privilege the user lacks; the admin makes those.
    for method, path, action, body in _mutations(unique_name, user):
        request_id = uuid.uuid4().hex
        uc = path.startswith((UC, "/api/2.0/mlflow/unity-catalog"))
        token = auth_server.admin_token if uc else user.token
        with auth_server.client(token) as client:
            response = client.request(method, path, json=body or None,
                                      headers={"X-Request-Id": request_id})
        assert response.status_code == 200, (path, response.text)
        events = _events(auth_server, request_id=request_id)
        assert len(events) == 1, (path, events)
        [event] = events
        assert event["actor"] == ("admin" if uc else user.name)
        assert event["action"] == action
        assert event["client_address"] == "127.0.0.1"


def test_identity_mutations_are_audited(auth_server: AuthServer) -> None:
    group = auth_server.new_group("audited")
    [event] = _events(auth_server, object_name=group.name)
    assert (event["action"], event["actor"]) == ("group.create", "admin")
    user = auth_server.new_user("member")
    auth_server.add_member(group.id, user.id)
    actions = [e["action"] for e in _events(auth_server, object_name=group.name)]
    assert actions == ["group.create", "group.update"]
    created = _events(auth_server, object_name=user.name)
    assert [e["action"] for e in created] == ["user.create", "token.create"]
    assert all("token_value" not in str(e) and user.token not in str(e) for e in created)


def test_denied_requests_are_one_event_each(auth_server: AuthServer, unique_name: str) -> None:
    owner = auth_server.new_user("owner")
    stranger = auth_server.new_user("stranger")
    with auth_server.client(owner.token) as client:
        assert client.post(f"{ML}/registered-models/create",
                           json={"name": unique_name}).status_code == 200
    request_id = uuid.uuid4().hex
    with auth_server.client(stranger.token) as client:
        hidden = client.get(f"{ML}/registered-models/get", params={"name": unique_name},
                            headers={"X-Request-Id": request_id})
    assert hidden.status_code == 404
    [event] = _events(auth_server, request_id=request_id)
    assert event["actor"] == stranger.name
    assert event["action"] == "denied.registered_model.get"
    assert event["object_name"] == unique_name

    auth_server.set_level(unique_name, stranger.name, "CAN_READ")
    [granted] = _events(auth_server, object_name=unique_name, action="permissions.update")
    assert granted["actor"] == "admin"
    assert granted["after"] == {stranger.name: "CAN_READ"}
    request_id = uuid.uuid4().hex
    with auth_server.client(stranger.token) as client:
        refused = client.request("DELETE", f"{ML}/registered-models/delete",
                                 json={"name": unique_name},
                                 headers={"X-Request-Id": request_id})
    assert refused.status_code == 403
    [event] = _events(auth_server, request_id=request_id)
    assert (event["actor"], event["action"]) == (stranger.name,
                                                 "denied.registered_model.delete")

    request_id = uuid.uuid4().hex
    anonymous = http_clients.get(auth_server.url + f"{ML}/registered-models/search",
                                 headers={"X-Request-Id": request_id})
    assert anonymous.status_code == 401
    [event] = _events(auth_server, request_id=request_id)
    assert (event["actor"], event["action"]) == ("anonymous", "denied.authenticate")


def test_owners_see_only_their_objects(auth_server: AuthServer) -> None:
    alice = auth_server.new_user("alice")
    bob = auth_server.new_user("bob")
    mine, theirs = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    for user, name in ((alice, mine), (bob, theirs)):
        with auth_server.client(user.token) as client:
            client.post(f"{ML}/registered-models/create", json={"name": name})
            client.post(f"{ML}/model-versions/create", json={"name": name, "source": "s3://b"})
    with auth_server.client(alice.token) as client:
        seen = client.get("/api/modelyard/v1/audit", params={"max_results": 1000}).json()
    names = {e["object_name"] for e in seen["events"]}
    assert {mine, f"{mine}/1"} <= names
    assert theirs not in names and f"{theirs}/1" not in names
    with auth_server.client(alice.token) as client:
        page = client.get("/api/modelyard/v1/audit",
                          params={"object_name": theirs}).json()
    assert page["events"] == []


def test_audit_paging(auth_server: AuthServer) -> None:
    first = _events(auth_server)
    with auth_server.admin() as admin:
        page = admin.get("/api/modelyard/v1/audit", params={"max_results": 2}).json()
        assert [e["seq"] for e in page["events"]] == [e["seq"] for e in first[:2]]
        following = admin.get("/api/modelyard/v1/audit", params={
            "max_results": 2, "page_token": page["next_page_token"]}).json()
    assert [e["seq"] for e in following["events"]] == [e["seq"] for e in first[2:4]]
    # The chain links each event to the previous one.
    assert following["events"][0]["prev_hash"] == page["events"][1]["hash"]


# ---- tampering -------------------------------------------------------------------------------

@pytest.fixture()
def fresh(engine: str, pg_available: bool, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on a database of its own, with a few audited changes in it."""
    urls = database_url_for(engine, pg_available)
    url = next(urls)
    server = ServerProcess(tmp_path, url).start()
    try:
        with http_clients.Client(base_url=server.url) as client:
            for i in range(4):
                client.post(f"{ML}/registered-models/create", json={"name": f"m{i}"})
        yield server
    finally:
        server.stop()
        for _ in urls:
            pass


def _verify(server: ServerProcess, expect_head: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    args = [MODELYARD, "audit", "verify"]
    args += (["--database-url", server.database_url] if server.database_url
             else ["--data-dir", str(server.data_dir)])
    if expect_head:
        args += ["--expect-head", expect_head]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def _execute(server: ServerProcess, sql: str) -> None:
    if server.database_url:
        dsn = server.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)
    else:
        with sqlite3.connect(server.data_dir / "modelyard.db") as conn:
            conn.execute(sql)


TAMPER: dict[str, tuple[str, Callable[[str], bool]]] = {
    "edit": ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
             lambda out: "seq 2: content edited" in out),
    "delete": ("DELETE FROM audit_events WHERE seq = 3",
               lambda out: "seq 3 deleted" in out),
    "insert": ("UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3",
               lambda out: "seq 3" in out),
}


@pytest.mark.parametrize("how", list(TAMPER))
def test_verify_names_the_tampered_row(fresh: ServerProcess, how: str) -> None:
    intact = _verify(fresh)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "intact" in intact.stdout
    sql, names_it = TAMPER[how]
    _execute(fresh, sql)
    broken = _verify(fresh)
    assert broken.returncode == 1
    assert names_it(broken.stdout), broken.stdout


def test_verify_with_a_kept_head_catches_a_cut_tail(fresh: ServerProcess) -> None:
    """Rows cut off the end leave a valid chain; the head noted earlier must still be in it."""
    intact = _verify(fresh)
    head = intact.stdout.strip().rsplit("head ", 1)[1]
    assert intact.returncode == 0 and _verify(fresh, head).returncode == 0
    last = int(head.split(":")[0])
    _execute(fresh, f"DELETE FROM audit_events WHERE seq >= {last - 1}")
    assert _verify(fresh).returncode == 0  # alone, a shorter chain looks fine
    cut = _verify(fresh, head)
    assert cut.returncode == 1
    assert f"seq {last}, the expected head, is missing" in cut.stdout, cut.stdout
    bad = _verify(fresh, "x:y")
    assert bad.returncode == 2 and "SEQ:HASH" in bad.stderr


def test_verify_catches_a_forged_row(fresh: ServerProcess) -> None:
    """A row inserted in the middle with a self-consistent hash still breaks the next link."""
    _execute(fresh, "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 3")
    _execute(fresh, "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000")
    _execute(fresh, "INSERT INTO audit_events (seq, time, actor, action, object_type, "
                    "object_name, request_id, client_address, prev_hash, hash) VALUES "
                    "(3, 0, 'mallory', 'registered_model.delete', 'registered_model', 'm0', "
                    "'', '', 'x', 'y')")
    broken = _verify(fresh)
    assert broken.returncode == 1
    assert "seq 3" in broken.stdout


def test_denied_identity_changes_are_audited(auth_server: AuthServer) -> None:
    user = auth_server.new_user("climber")
    request_id = uuid.uuid4().hex
    with auth_server.client(user.token) as client:
        refused = client.post(f"{SCIM}/Users", json={"userName": "evil@example.com"},
                              headers={"X-Request-Id": request_id})
    assert refused.status_code == 403
    [event] = _events(auth_server, request_id=request_id)
    assert (event["actor"], event["action"], event["object_name"]) == (
        user.name, "denied.user.create", "evil@example.com")
