"""A flood of bad credentials: bounded audit rows, 429s past the per-address limit, and a
signed-in user's requests still served (issue 15, item 9).

The server runs with a small limit (30 refusals a minute per address), 5 refusals written one
by one per source and window, and a 2-second window so that the summaries are written while
the test waits.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.server import ServerProcess

LIMIT = 30
INDIVIDUAL = 5
WINDOW = 2.0
MLFLOW = "/api/2.0/mlflow/registered-models/search"
UC = "/api/2.1/unity-catalog/catalogs"


@pytest.fixture(scope="module")
def flood_server(engine: str, pg_available: bool,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    database = database_url_for(engine, pg_available)
    data_dir = tmp_path_factory.mktemp(f"flood-{engine}")
    process = ServerProcess(data_dir, next(database), extra_args=[
        "--auth", "--refusal-limit", str(LIMIT), "--audit-refusals-per-minute", str(INDIVIDUAL),
        "--audit-refusal-window", str(WINDOW)]).start()
    try:
        yield process, (data_dir / "admin-token").read_text().strip()
    finally:
        process.stop()
        database.close()


def _refusals(server: ServerProcess, token: str) -> list[dict[str, Any]]:
    with http_clients.Client(base_url=server.url, timeout=30,
                             headers={"Authorization": f"Bearer {token}"}) as admin:
        events, page = [], ""
        while True:
            response = admin.get("/api/modelyard/v1/audit",
                                 params={"max_results": 1000, "page_token": page})
            assert response.status_code == 200, response.text
            events += response.json()["events"]
            page = response.json()["next_page_token"]
            if not page:
                return [e for e in events if e["action"].startswith("denied.authenticate")]


def _accounted(events: list[dict[str, Any]]) -> int:
    """The refusals the rows stand for: one each, or a summary's count."""
    return sum((e["after"] or {}).get("count", 1) for e in events)


def test_a_flood_of_bad_tokens(flood_server: tuple[ServerProcess, str]) -> None:
    server, admin_token = flood_server
    before = _refusals(server, admin_token)

    flood = 150
    good: list[int] = []
    with http_clients.Client(base_url=server.url, timeout=30) as client, \
            ThreadPoolExecutor(6) as pool:

        def bad(index: int) -> httpx.Response:
            return client.get(UC if index % 2 else MLFLOW,
                              headers={"Authorization": f"Bearer bad-token-{index}"})

        started = time.monotonic()
        refused = pool.map(bad, range(flood))
        # The signed-in user, from the same address, meanwhile: served throughout.
        for _ in range(20):
            good.append(client.get(MLFLOW, headers={
                "Authorization": f"Bearer {admin_token}"}).status_code)
        answers = list(refused)
        elapsed = time.monotonic() - started
    assert good == [200] * 20

    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) == {401, 429}, statuses
    # The bucket holds LIMIT refusals and regains LIMIT a minute while the flood lasts.
    assert LIMIT <= statuses[401] <= LIMIT + math.ceil(elapsed * LIMIT / 60) + 1, (
        statuses, elapsed)
    for response in answers:
        if response.status_code != 429:
            continue
        assert int(response.headers["Retry-After"]) >= 1
        body = response.json()
        if response.request.url.path == UC:
            assert body["error_code"] == "RESOURCE_EXHAUSTED"
            assert body["details"][0]["reason"] == "RESOURCE_EXHAUSTED"
        else:
            assert body["error_code"] == "REQUEST_LIMIT_EXCEEDED"
        assert "Too many refused requests from your address" in body["message"]

    # Every refusal is accounted for, in a bounded number of rows: per reason and window, a
    # few one by one and one summary. Summaries are written once their window is over.
    deadline = time.monotonic() + 20
    while True:
        added = _refusals(server, admin_token)[len(before):]
        if _accounted(added) == flood or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert _accounted(added) == flood
    windows = max(1, len({e["time"] // int(WINDOW * 1000) for e in added}))
    assert len(added) <= windows * 2 * (INDIVIDUAL + 1), [e["action"] for e in added]
    assert len(added) < flood / 4  # one row per refusal before
    summaries = [e for e in added if e["after"]]
    assert summaries and all(e["actor"] == "anonymous" and e["client_address"] == "127.0.0.1"
                             for e in summaries)
    assert {e["action"] for e in added} == {"denied.authenticate", "denied.authenticate.limited"}


def test_a_limited_address_gets_no_password_checked(
        flood_server: tuple[ServerProcess, str]) -> None:
    """Past the limit a wrong password is refused unchecked (no argon2, no failure counted for
    the user name); a valid token from the same address still works."""
    server, admin_token = flood_server
    with http_clients.Client(base_url=server.url, timeout=30) as client:
        for index in range(3 * LIMIT):  # until the address's bucket is empty
            if client.get(MLFLOW, headers={"Authorization": f"Bearer nope-{index}"}
                          ).status_code == 429:
                break
        else:
            raise AssertionError("never limited")
        limited = client.get(MLFLOW, auth=("admin", "wrong"))
        assert limited.status_code == 429, limited.text
        assert limited.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
        assert int(limited.headers["Retry-After"]) >= 1
        ok = client.get(MLFLOW, headers={"Authorization": f"Bearer {admin_token}"})
        assert ok.status_code == 200
