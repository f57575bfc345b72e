"""Writes sent at once by many mlflow clients, as the server answers them (on SQLite it commits
the writes it serves together in one COMMIT, store/group_commit.py): every acknowledged write
is there, version numbers have no gap or duplicate, a refused write in the crowd changes
nothing, and the audit trail's chain still verifies."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.support.server import MODELYARD, ServerProcess

CLIENTS, VERSIONS = 8, 12


def test_concurrent_writes_all_land_and_the_audit_chain_holds(
        server: ServerProcess, tracking_uri: str, unique_name: str) -> None:
    shared = f"{unique_name}-shared"

    def new_client() -> MlflowClient:
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=server.url)

    new_client().create_registered_model(shared)

    def client(index: int) -> list[str]:
        own, mlflow_client, refusals = f"{unique_name}-{index}", new_client(), []
        mlflow_client.create_registered_model(own)
        for number in range(VERSIONS):
            mlflow_client.create_model_version(shared, f"s3://b/{index}/{number}")
            mlflow_client.set_registered_model_tag(own, f"k{number}", str(index))
            # Refused inside the server's write (the model exists): changes nothing.
            with pytest.raises(MlflowException) as refused:
                mlflow_client.create_registered_model(shared)
            refusals.append(refused.value.error_code)
        return refusals

    with ThreadPoolExecutor(CLIENTS) as pool:
        refusals = [code for codes in pool.map(client, range(CLIENTS)) for code in codes]
    assert refusals == ["RESOURCE_ALREADY_EXISTS"] * (CLIENTS * VERSIONS)

    reader = new_client()
    found = reader.search_model_versions(f"name = '{shared}'", max_results=1000)
    assert sorted(int(v.version) for v in found) == list(range(1, CLIENTS * VERSIONS + 1))
    assert sorted(v.source for v in found) == sorted(
        f"s3://b/{i}/{n}" for i in range(CLIENTS) for n in range(VERSIONS))
    for index in range(CLIENTS):
        model = reader.get_registered_model(f"{unique_name}-{index}")
        assert model.tags == {f"k{n}": str(index) for n in range(VERSIONS)}

    verify = [str(MODELYARD), "audit", "verify", "--data-dir", str(server.data_dir)]
    if server.database_url:
        verify += ["--database-url", server.database_url]
    result = subprocess.run(verify, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
