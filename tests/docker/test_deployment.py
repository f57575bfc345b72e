"""What of the production deployment runs here: the image's entrypoint script, run directly (the
server it starts, its health check, its refusal of an unwritable data directory), and the compose
file, checked by a compose validator.

Not run here: `docker build` and `docker compose up` (no Docker daemon on this machine, and no
registry to pull the base images from). README, "Running it for a team".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import http_clients
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
COMPOSE = ROOT / "compose.yaml"
BIN = str(Path(sys.executable).parent)


def _env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELYARD_")}
    env.update({"PATH": f"{BIN}:{env.get('PATH', '')}", "MODELYARD_DATA_DIR": str(data_dir),
                "MODELYARD_PORT": str(port), "MODELYARD_HOST": "127.0.0.1", **extra})
    return env


def _healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(ENTRYPOINT), "healthcheck"], env=env, capture_output=True,
                          text=True, timeout=30)


def test_the_entrypoint_serves_with_auth_and_answers_the_health_check(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path / "data", port)
    assert _healthcheck(env).returncode == 1  # nothing listens yet
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(["sh", str(ENTRYPOINT)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(300):
            if _healthcheck(env).returncode == 0:
                break
            assert server.poll() is None, (tmp_path / "server.log").read_text()
        else:
            pytest.fail((tmp_path / "server.log").read_text())
        base = f"http://127.0.0.1:{port}"
        # The image's default is --auth: the first admin's token is in the data directory.
        search = base + "/api/2.0/mlflow/registered-models/search"
        assert http_clients.get(search).status_code == 401
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        answer = http_clients.get(base + "/api/2.0/mlflow/registered-models/search",
                                  headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        assert http_clients.get(base + "/ready").json()["status"] == "ready"
    finally:
        os.killpg(server.pid, 15)
        server.wait(20)
    assert _healthcheck(env).returncode == 1


def test_the_entrypoint_runs_other_commands(tmp_path: Path) -> None:
    done = subprocess.run(["sh", str(ENTRYPOINT), "modelyard", "--help"],
                          env=_env(tmp_path, free_port()), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "serve" in done.stdout


def test_the_entrypoint_refuses_a_data_dir_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = subprocess.run(["sh", str(ENTRYPOINT), "serve"],
                          env=_env(blocker / "data", free_port()), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert "is not writable" in done.stderr


def _compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("MODELYARD_TEST_REQUIRE_COMPOSE") == "1":
            pytest.fail("docker-compose is required here (apt-get install docker-compose)")
        pytest.skip("no docker-compose on this machine to validate compose.yaml with")
    return found


def _compose_config(env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_compose(), "-f", str(COMPOSE), "--env-file", str(env_file),
                           "config", *extra], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def test_the_compose_file_is_valid(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    shutil.copy(ROOT / "docker" / "env.example", env_file)
    done = _compose_config(env_file)
    assert done.returncode == 0, done.stderr
    import yaml

    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert set(services) == {"modelyard", "s3-bucket", "postgres", "s3"}
    registry = services["modelyard"]["environment"]
    assert registry["MODELYARD_DATABASE_URL"].startswith("postgresql+psycopg://modelyard:")
    assert registry["MODELYARD_STORAGE_ROOT"].startswith("s3://")
    volume = services["modelyard"]["volumes"][0]
    assert (volume["target"] if isinstance(volume, dict) else volume.split(":")[1]) == "/data"
    assert services["s3-bucket"]["command"] == ["ensure-bucket"]


def test_the_compose_file_wants_its_passwords(tmp_path: Path) -> None:
    empty = tmp_path / ".env"
    empty.write_text("")
    done = _compose_config(empty, "-q")
    assert done.returncode != 0
    assert "in .env" in done.stderr
