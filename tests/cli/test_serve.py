"""`modelyard serve`: its settings, from flags and from MODELYARD_* variables."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import http_clients
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
        assert http_clients.get(server.url + "/health").json() == {"status": "ok"}
        assert (tmp_path / "from-env" / "modelyard.db").exists()
    finally:
        server.stop()


def test_request_limits_from_environment(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, env={"MODELYARD_MAX_BODY_SIZE": "2KiB",
                                          "MODELYARD_HEADER_TIMEOUT": "0.5"}).start()
    try:
        create = server.url + "/api/2.0/mlflow/registered-models/create"
        response = http_clients.post(create, content=b"{" + b" " * 2047 + b"}")
        assert response.status_code == 413 and "2,048 bytes" in response.json()["message"]
        assert http_clients.post(create, content=b"{" + b" " * 2046 + b"}").status_code == 400
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")
            started = time.monotonic()
            while sock.recv(1024):
                pass
            assert time.monotonic() - started < 1.5
    finally:
        server.stop()


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--max-body-size", "lots", "'lots' is not a size"),
    ("--max-body-size", "100", "less than 1 KiB"),
    ("--max-connections", "3", "x>=16"),
])
def test_request_limits_are_checked(tmp_path: Path, flag: str, value: str,
                                    message: str) -> None:
    result = subprocess.run([MODELYARD, "serve", "--data-dir", str(tmp_path), "--port",
                             str(free_port()), flag, value],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


def test_data_survives_a_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    http_clients.post(server.url + "/api/2.0/mlflow/registered-models/create",
                      json={"name": "kept"})
    server.stop()
    again = ServerProcess(tmp_path / "data").start()
    try:
        response = http_clients.get(again.url + "/api/2.0/mlflow/registered-models/get",
                                    params={"name": "kept"})
        assert response.status_code == 200
    finally:
        again.stop()


def test_help_lists_every_setting() -> None:
    env = {"COLUMNS": "200", "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([MODELYARD, "serve", "--help"], capture_output=True, text=True,
                            check=True, env=env)
    for flag in ("--host", "--port", "--data-dir", "--database-url", "--storage-root",
                 "--workers", "--tracking-uri", "--tracking-token", "--max-body-size",
                 "--header-timeout", "--body-timeout", "--keep-alive-timeout",
                 "--max-connections"):
        assert flag in result.stdout


def test_tracking_uri_must_be_an_http_address(tmp_path: Path) -> None:
    result = subprocess.run([MODELYARD, "serve", "--data-dir", str(tmp_path), "--port",
                             str(free_port()), "--tracking-uri", "sqlite:///mlflow.db"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--tracking-uri must be an http:// or https:// address" in result.stderr


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    return {**env, "COLUMNS": "200", **extra}


def test_workers_must_be_at_least_one(tmp_path: Path) -> None:
    result = subprocess.run([MODELYARD, "serve", "--data-dir", str(tmp_path), "--port",
                             str(free_port()), "--workers", "0"],
                            capture_output=True, text=True, timeout=60, env=_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--workers" in result.stderr
    assert not (tmp_path / "modelyard.db").exists()


def test_port_from_environment_must_be_a_number(tmp_path: Path) -> None:
    result = subprocess.run([MODELYARD, "serve"], capture_output=True, text=True, timeout=60,
                            env=_env(MODELYARD_PORT="notanumber",
                                     MODELYARD_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--port" in result.stderr and "MODELYARD_PORT" in result.stderr
    assert not (tmp_path / "modelyard.db").exists()


def test_no_arguments_prints_the_help() -> None:
    for args, commands in (([], ("serve", "catalogs", "audit")),
                           (["catalogs"], ("list", "show", "create", "delete"))):
        result = subprocess.run([MODELYARD, *args], capture_output=True, text=True,
                                timeout=60, env=_env())
        assert result.returncode == 2
        assert "Usage: modelyard" in result.stdout
        assert all(command in result.stdout for command in commands), result.stdout


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("yes", True),
                                                 ("0", False), ("false", False)])
def test_auth_flag_reads_its_variable(monkeypatch: pytest.MonkeyPatch, value: str,
                                      expected: bool) -> None:
    from modelyard.cli.main import serve

    monkeypatch.setenv("MODELYARD_AUTH", value)
    assert serve.make_context("serve", []).params["auth"] is expected
    assert serve.make_context("serve", ["--auth"]).params["auth"] is True


def test_options_and_variables_give_typed_values(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    from modelyard.cli.main import serve

    monkeypatch.setenv("MODELYARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MODELYARD_PENDING_TIMEOUT", "2.5")
    params = serve.make_context("serve", ["--port", "9000", "--workers", "3"]).params
    assert params["data_dir"] == tmp_path and isinstance(params["data_dir"], Path)
    assert (params["port"], params["workers"], params["pending_timeout"]) == (9000, 3, 2.5)
    assert serve.make_context("serve", []).params["data_dir"] == tmp_path
    monkeypatch.delenv("MODELYARD_DATA_DIR")
    assert serve.make_context("serve", []).params["data_dir"] == Path("modelyard-data")


def test_allowed_storage_roots_must_be_absolute_or_s3(tmp_path: Path) -> None:
    result = subprocess.run([MODELYARD, "serve", "--data-dir", str(tmp_path), "--port",
                             str(free_port()), "--allowed-storage-roots", "/srv/ok,relative/dir"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--allowed-storage-roots: Invalid allowed storage root 'relative/dir'" in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_named_before_anything_starts(tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([MODELYARD, "serve", "--data-dir", str(tmp_path / "data"),
                                 "--port", str(port), "--workers", workers],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is in use; choose another with --port or "
        "MODELYARD_PORT (and point the modelyard commands at it with --url or MODELYARD_URL)\n")
    assert not (tmp_path / "data").exists()  # checked before the data directory is made


def test_a_connection_left_in_time_wait_does_not_hold_the_port(tmp_path: Path) -> None:
    # The side that closes first keeps the connection in TIME_WAIT on the port: a server
    # restarted at once on it must start (SO_REUSEADDR, as uvicorn binds).
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server's side closes first: its end waits in TIME_WAIT
        client.close()
    with socket.socket() as plain, pytest.raises(OSError):  # the port is held, in TIME_WAIT
        plain.bind(("127.0.0.1", port))
    server = ServerProcess(tmp_path)
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    server.args[server.args.index("--port") + 1] = str(port)
    server.start()
    try:
        assert http_clients.get(server.url + "/health").json() == {"status": "ok"}
    finally:
        server.stop()
