"""`modelyard serve`: its settings, from flags and from MODELYARD_* variables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import MODELYARD, ServerProcess, free_port


def test_settings_from_environment(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "ignored", env={
        "MODELYARD_PORT": str(port), "MODELYARD_DATA_DIR": str(tmp_path / "from-env")})
    # Flags win over variables; drop the port and data-dir flags to let the variables speak.
    server.args = [MODELYARD, "serve"]
    server.url = f"http://127.0.0.1:{port}"
    server.start()
    try:
        assert httpx.get(server.url + "/health").json() == {"status": "ok"}
        assert (tmp_path / "from-env" / "modelyard.db").exists()
    finally:
        server.stop()


def test_data_survives_a_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    httpx.post(server.url + "/api/2.0/mlflow/registered-models/create", json={"name": "kept"})
    server.stop()
    again = ServerProcess(tmp_path / "data").start()
    try:
        response = httpx.get(again.url + "/api/2.0/mlflow/registered-models/get",
                             params={"name": "kept"})
        assert response.status_code == 200
    finally:
        again.stop()


def test_help_lists_every_setting() -> None:
    env = {"COLUMNS": "200", "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([MODELYARD, "serve", "--help"], capture_output=True, text=True,
                            check=True, env=env)
    for flag in ("--host", "--port", "--data-dir", "--database-url", "--storage-root",
                 "--workers", "--tracking-uri", "--tracking-token"):
        assert flag in result.stdout


def test_tracking_uri_must_be_an_http_address(tmp_path: Path) -> None:
    result = subprocess.run([MODELYARD, "serve", "--data-dir", str(tmp_path), "--port",
                             str(free_port()), "--tracking-uri", "sqlite:///mlflow.db"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--tracking-uri must be an http:// or https:// address" in result.stderr
