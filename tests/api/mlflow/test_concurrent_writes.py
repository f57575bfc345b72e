"""Writes sent at once by many clients, as the server answers them (on SQLite it commits the
writes it serves together in one COMMIT, store/group_commit.py): every acknowledged write is
there, version numbers have no gap or duplicate, a refused write in the crowd changes nothing,
and the audit trail's chain still verifies."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.server import MODELYARD, ServerProcess

API = "/api/2.0/mlflow"
CLIENTS, VERSIONS = 8, 12


def test_concurrent_writes_all_land_and_the_audit_chain_holds(
        server: ServerProcess, unique_name: str) -> None:
    shared = f"{unique_name}-shared"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post(f"{API}/registered-models/create", json={"name": shared}).is_success

    def client(index: int) -> list[int]:
        own = f"{unique_name}-{index}"
        answers = []
        with httpx.Client(base_url=server.url, timeout=30) as http:
            answers.append(http.post(f"{API}/registered-models/create",
                                     json={"name": own}).status_code)
            for number in range(VERSIONS):
                answers.append(http.post(f"{API}/model-versions/create", json={
                    "name": shared, "source": f"s3://b/{index}/{number}"}).status_code)
                answers.append(http.post(f"{API}/registered-models/set-tag", json={
                    "name": own, "key": f"k{number}", "value": str(index)}).status_code)
                # Refused inside the server's write (the model exists): changes nothing.
                answers.append(http.post(f"{API}/registered-models/create",
                                         json={"name": shared}).status_code)
        return answers

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [code for codes in pool.map(client, range(CLIENTS)) for code in codes]
    assert sorted(set(answers)) == [200, 400]
    assert answers.count(400) == CLIENTS * VERSIONS

    with httpx.Client(base_url=server.url, timeout=30) as http:
        found = http.get(f"{API}/model-versions/search", params={
            "filter": f"name = '{shared}'", "max_results": 1000}).json()["model_versions"]
        assert sorted(int(v["version"]) for v in found) == list(range(1, CLIENTS * VERSIONS + 1))
        assert sorted(v["source"] for v in found) == sorted(
            f"s3://b/{i}/{n}" for i in range(CLIENTS) for n in range(VERSIONS))
        for index in range(CLIENTS):
            model = http.get(f"{API}/registered-models/get",
                             params={"name": f"{unique_name}-{index}"}).json()["registered_model"]
            assert {t["key"]: t["value"] for t in model["tags"]} == {
                f"k{n}": str(index) for n in range(VERSIONS)}

    verify = [str(MODELYARD), "audit", "verify", "--data-dir", str(server.data_dir)]
    if server.database_url:
        verify += ["--database-url", server.database_url]
    result = subprocess.run(verify, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
