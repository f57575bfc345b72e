"""Password sign-ins under load: a password check (argon2id: 64 MiB and several threads for tens
of milliseconds) runs once per credential however many connections bring it at the same time,
and only a few run at once, so a burst of sign-ins neither multiplies the CPU nor the memory."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelyard.services.identity import AUTH_CACHE_SECONDS
from tests.conftest import database_url_for
from tests.support import http_clients
from tests.support.server import PER_REFUSAL, ServerProcess

SCIM = "/api/2.0/preview/scim/v2"
SEARCH = "/api/2.0/mlflow/registered-models/search"
MIB = 1024 * 1024
ARGON2_MEMORY = 64 * MIB  # argon2-cffi's default memory cost, per check


class Server:
    def __init__(self, process: ServerProcess, admin_token: str) -> None:
        self.process = process
        self.admin = http_clients.Client(base_url=process.url, timeout=60,
                                         headers={"Authorization": f"Bearer {admin_token}"})

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    def new_user(self, password: str) -> str:
        name = f"signin-{uuid.uuid4().hex[:8]}@example.com"
        created = self.admin.post(f"{SCIM}/Users", json={"userName": name, "password": password})
        assert created.status_code == 201, created.text
        return name

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak_memory(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS

    def memory(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"{field} not in /proc/{self.pid}/status")


@pytest.fixture(scope="module")
def server(engine: str, pg_available: bool,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own, on each engine: the test reads its process's CPU time and peak
    memory."""
    database = database_url_for(engine, pg_available)
    data_dir = tmp_path_factory.mktemp(f"password-checks-{engine}")
    process = ServerProcess(data_dir, next(database), extra_args=["--auth", *PER_REFUSAL]).start()
    try:
        yield Server(process, (data_dir / "admin-token").read_text().strip())
    finally:
        process.stop()
        database.close()  # drops a PostgreSQL database


def _sign_in_all(url: str, credentials: list[tuple[str, str]]) -> list[int]:
    """One request per credential, all at once, each on its own connection."""
    def call(credential: tuple[str, str]) -> int:
        with http_clients.Client(base_url=url, timeout=120, auth=credential) as client:
            return client.get(SEARCH).status_code

    with ThreadPoolExecutor(len(credentials)) as pool:
        return list(pool.map(call, credentials))


def test_one_check_per_credential_however_many_connections_bring_it(server: Server) -> None:
    alone = server.new_user("first password of ours")
    together = server.new_user("second password of ours")
    before = server.cpu_seconds()
    assert _sign_in_all(server.process.url, [(alone, "first password of ours")]) == [200]
    one_check = server.cpu_seconds() - before

    before = server.cpu_seconds()
    statuses = _sign_in_all(server.process.url, [(together, "second password of ours")] * 8)
    eight_connections = server.cpu_seconds() - before

    assert statuses == [200] * 8
    # Eight checks would cost ~8 times one; one check and seven cache hits cost about one.
    assert eight_connections < 3 * one_check, (one_check, eight_connections)


def test_a_burst_of_sign_ins_does_not_multiply_memory(server: Server) -> None:
    users = [(server.new_user(f"password number {i}"), f"password number {i}")
             for i in range(12)]
    server.reset_peak_memory()
    before = server.memory("VmRSS")

    assert _sign_in_all(server.process.url, users) == [200] * 12

    grown = server.memory("VmHWM") - before
    # Twelve checks at once would need 12 x 64 MiB; one at a time needs one.
    assert grown < 2 * ARGON2_MEMORY, f"peak grew by {grown / MIB:.0f} MiB"


def test_signing_in_again_after_the_cached_check_expired_costs_no_second_check(
        server: Server) -> None:
    user = server.new_user("a password used all day")
    before = server.cpu_seconds()
    assert _sign_in_all(server.process.url, [(user, "a password used all day")]) == [200]
    first = server.cpu_seconds() - before
    time.sleep(AUTH_CACHE_SECONDS + 0.5)

    before = server.cpu_seconds()
    assert _sign_in_all(server.process.url, [(user, "a password used all day")]) == [200]
    again = server.cpu_seconds() - before

    # The user's row is read afresh (still active, same stored hash): no argon2 this time.
    assert again < first / 3, (first, again)
    # A wrong password is still refused, and then the right one costs a full check again.
    assert _sign_in_all(server.process.url, [(user, "not the password")]) == [401]
    assert _sign_in_all(server.process.url, [(user, "a password used all day")]) == [200]
