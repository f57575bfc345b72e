"""Starting and stopping the servers under test.

Each server runs in its own process group with its output in a log file, so that stopping it
(SIGTERM to the group, then SIGKILL) also ends its workers. Cold start is the time from spawn
to the first 200 answer on `GET /health`.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from procfs import process_tree, start_time

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent

# MLflow runs as one uvicorn worker like Modelyard; the job runner (a huey consumer process
# that `mlflow server` launches by default) is switched off, and so is the telemetry client.
MLFLOW_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


@dataclass(frozen=True)
class ServerKind:
    key: str  # "mlflow" | "modelyard"
    label: str  # shown in the table
    binary: Path
    package: str  # distribution name, for its version

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    def command(self, port: int, data_dir: Path, db_url: str, workers: int) -> list[str]:
        if self.key == "mlflow":
            return [
                str(self.binary), "server",
                "--backend-store-uri", db_url,
                "--default-artifact-root", str(data_dir / "artifacts"),
                "--host", HOST,
                "--port", str(port),
                "--workers", str(workers),
            ]  # fmt: skip
        return [
            str(self.binary), "serve",
            "--port", str(port),
            "--data-dir", str(data_dir),
            "--database-url", db_url,
            "--workers", str(workers),
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.key == "mlflow":
            env.update(MLFLOW_ENV)
        return env


def server_kinds(mlflow_bin: str | None, modelyard_bin: str | None) -> dict[str, ServerKind]:
    return {
        "mlflow": ServerKind("mlflow", "MLflow", Path(mlflow_bin or VENV_BIN / "mlflow"), "mlflow"),
        "modelyard": ServerKind(
            "modelyard", "Modelyard", Path(modelyard_bin or VENV_BIN / "modelyard"), "modelyard"
        ),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerFailed(RuntimeError):
    pass


class RunningServer:
    """A started server; `stop()` ends its whole process group."""

    def __init__(self, kind: ServerKind, argv: list[str], data_dir: Path, port: int,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.port = port
        self.log_path = data_dir / f"{kind.key}-{port}.log"
        self._log = self.log_path.open("ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            cwd=data_dir,
            env={**kind.environment(), **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.cold_start_s = float("nan")
        self._started = started

    def wait_healthy(self, timeout_s: float) -> float:
        deadline = self._started + timeout_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(
                    f"{self.kind.label} exited with {self.proc.returncode}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if _health_ok(self.port):
                self.cold_start_s = time.perf_counter() - self._started
                return self.cold_start_s
            time.sleep(0.01)
        raise ServerFailed(
            f"{self.kind.label} not healthy after {timeout_s:.0f} s; log {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace_s: float = 15.0) -> None:
        if self.proc.poll() is None:
            tree = [(pid, start_time(pid)) for pid in process_tree(self.pid)]
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.proc.wait(5)
            for pid, started in tree:  # anything that left the group and is still running
                if started is not None and start_time(pid) == started:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        _signal_group(self.pid, signal.SIGKILL)  # stragglers left in the group
        self._log.close()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _health_ok(port: int) -> bool:
    """Whether the server on `port` answers 200 to GET /health."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def start_server(
    kind: ServerKind, data_dir: Path, db_url: str, workers: int, timeout_s: float,
    extra_args: Sequence[str] = (), extra_env: Mapping[str, str] | None = None,
) -> RunningServer:
    port = free_port()
    argv = kind.command(port, data_dir, db_url, workers) + list(extra_args)
    server = RunningServer(kind, argv, data_dir, port, extra_env)
    try:
        server.wait_healthy(timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def check_binary(kind: ServerKind) -> str | None:
    """None if the server's command exists, else a message."""
    if kind.binary.exists() or shutil.which(str(kind.binary)):
        return None
    return f"{kind.label}: {kind.binary} not found"
