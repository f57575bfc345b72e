"""Password sign-in throttling over HTTP: five wrong passwords lock password sign-in for that
user name (429 with Retry-After, in each surface's error format, even for the right password),
while its tokens and other users keep working; a success resets the count."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from modelyard.store.database import sqlite_url_for
from tests.api.identity.conftest import AuthServer, Principal
from tests.support import http_clients
from tests.support.server import PER_REFUSAL, ServerProcess

PASSWORD = "correct horse battery staple"
WRONG = "wrong-guess"
LOCKOUT = 300  # the serve default (--signin-lockout)
# (path, error code of a lock, error code of a wrong password) per surface.
SURFACES = {
    "mlflow": ("/api/2.0/mlflow/registered-models/search", "REQUEST_LIMIT_EXCEEDED",
               "UNAUTHENTICATED"),
    "unity_catalog": ("/api/2.1/unity-catalog/catalogs", "RESOURCE_EXHAUSTED",
                      "UNAUTHENTICATED"),
    "databricks_uc": ("/api/2.0/mlflow/unity-catalog/registered-models/search",
                      "REQUEST_LIMIT_EXCEEDED", "UNAUTHENTICATED"),
}


def _get(server: AuthServer | ServerProcess, path: str, user: str, password: str,
         **headers: str) -> httpx.Response:
    return http_clients.get(server.url + path, auth=(user, password), headers=headers, timeout=30)


def _fail(server: AuthServer | ServerProcess, path: str, user: str, times: int = 5) -> None:
    for _ in range(times):
        refused = _get(server, path, user, WRONG)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error_code"] == "UNAUTHENTICATED"


def _events(auth_server: AuthServer, **filters: Any) -> list[dict[str, Any]]:
    with auth_server.admin() as admin:
        response = admin.get("/api/modelyard/v1/audit", params={"max_results": 1000, **filters})
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


@pytest.mark.parametrize("surface", list(SURFACES))
def test_five_wrong_passwords_lock_even_the_right_one(auth_server: AuthServer,
                                                      surface: str) -> None:
    path, locked_code, _ = SURFACES[surface]
    user = auth_server.new_user("throttled", password=PASSWORD)
    assert _get(auth_server, path, user.name, PASSWORD).status_code == 200
    _fail(auth_server, path, user.name)

    locked = _get(auth_server, path, user.name, PASSWORD)
    assert locked.status_code == 429, locked.text
    body = locked.json()
    assert body["error_code"] == locked_code
    assert "Too many failed sign-in attempts" in body["message"]
    assert 0 < int(locked.headers["Retry-After"]) <= LOCKOUT
    if surface == "unity_catalog":
        assert body["details"][0]["reason"] == "RESOURCE_EXHAUSTED"
    assert PASSWORD not in locked.text and WRONG not in locked.text

    # The lock covers every surface, and a wrong password too.
    for other_path, other_code, _ in SURFACES.values():
        again = _get(auth_server, other_path, user.name, WRONG)
        assert (again.status_code, again.json()["error_code"]) == (429, other_code)


def test_tokens_and_other_users_are_not_affected(auth_server: AuthServer) -> None:
    path = SURFACES["mlflow"][0]
    user = auth_server.new_user("locked", password=PASSWORD)
    bystander = auth_server.new_user("bystander", password=PASSWORD)
    _fail(auth_server, path, user.name)
    assert _get(auth_server, path, user.name, PASSWORD).status_code == 429

    with auth_server.client(user.token) as with_token:
        assert with_token.get(path).status_code == 200
    assert _get(auth_server, path, bystander.name, PASSWORD).status_code == 200
    with auth_server.admin() as admin:
        assert admin.get(path).status_code == 200


def test_a_success_resets_the_count(auth_server: AuthServer) -> None:
    path = SURFACES["unity_catalog"][0]
    user = auth_server.new_user("forgetful", password=PASSWORD)
    for _ in range(3):
        _fail(auth_server, path, user.name, times=4)
        assert _get(auth_server, path, user.name, PASSWORD).status_code == 200


def test_unknown_user_names_are_locked_alike(auth_server: AuthServer) -> None:
    """The answer must not tell which user names exist."""
    path = SURFACES["mlflow"][0]
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    _fail(auth_server, path, ghost)
    assert _get(auth_server, path, ghost, PASSWORD).status_code == 429


def test_refusals_are_in_the_audit_trail(auth_server: AuthServer) -> None:
    path = SURFACES["mlflow"][0]
    user = auth_server.new_user("audited", password=PASSWORD)
    failed_id, locked_id = uuid.uuid4().hex, uuid.uuid4().hex
    assert _get(auth_server, path, user.name, WRONG,
                **{"X-Request-Id": failed_id}).status_code == 401
    _fail(auth_server, path, user.name, times=4)
    assert _get(auth_server, path, user.name, PASSWORD,
                **{"X-Request-Id": locked_id}).status_code == 429

    [failed] = _events(auth_server, request_id=failed_id)
    assert (failed["actor"], failed["action"]) == ("anonymous", "denied.authenticate")
    [locked] = _events(auth_server, request_id=locked_id)
    assert (locked["actor"], locked["action"]) == ("anonymous",
                                                   "denied.authenticate.throttled")
    assert locked["object_name"] == f"GET {path}"
    trail = str(_events(auth_server))
    assert PASSWORD not in trail and WRONG not in trail
    log = auth_server.process.log()
    assert PASSWORD not in log and WRONG not in log


def test_the_lock_ends_and_is_shared_by_workers(auth_server: AuthServer,
                                                tmp_path_factory: pytest.TempPathFactory,
                                                ) -> None:
    """Two worker processes on the same database, a three-second lock: failures spread over
    both count together (the count lives in the database), and after the lock the right
    password works again."""
    data_dir = tmp_path_factory.mktemp("throttle")
    database_url = auth_server.database_url or sqlite_url_for(auth_server.process.data_dir)
    process = ServerProcess(data_dir, database_url, workers=2,
                            extra_args=["--auth", "--signin-lockout", "3", *PER_REFUSAL]).start()
    try:
        path = SURFACES["mlflow"][0]
        user: Principal = auth_server.new_user("shortlock", password=PASSWORD)
        for _ in range(5):
            # A fresh connection each time: uvicorn's workers take turns accepting them.
            assert _get(process, path, user.name, WRONG).status_code == 401
        assert _get(process, path, user.name, PASSWORD).status_code == 429
        deadline = time.monotonic() + 30
        while (answer := _get(process, path, user.name, PASSWORD)).status_code == 429:
            assert time.monotonic() < deadline, "the lock never ended"
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text
    finally:
        process.stop()
