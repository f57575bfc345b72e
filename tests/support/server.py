"""Start a real `modelyard serve` process and talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import http_clients

MODELYARD = str(Path(sys.executable).with_name("modelyard"))
#: For servers whose tests look up each refused request's own audit row, all from 127.0.0.1 and
#: many within a minute: no per-address limit, and no summarizing of refusals (both have tests
#: of their own: tests/api/identity/test_refusal_flood.py).
PER_REFUSAL = ["--refusal-limit", "0", "--audit-refusals-per-minute", "1000000"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One server process; `url` is its base URL, its output goes to `log_path`."""

    def __init__(self, data_dir: Path, database_url: str | None = None, workers: int = 1,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                 webhook_allow_hosts: str | None = "127.0.0.1") -> None:
        """`webhook_allow_hosts`: the tests' receivers listen on 127.0.0.1, which webhooks may
        reach only when listed; None starts the server with the default (public only)."""
        self.data_dir = data_dir
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        self.args = [MODELYARD, "serve", "--port", str(self.port), "--data-dir", str(data_dir),
                     "--workers", str(workers), *(extra_args or [])]
        if webhook_allow_hosts is not None:
            self.args += ["--webhook-allow-hosts", webhook_allow_hosts]
        if database_url:
            self.args += ["--database-url", database_url]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                        env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if http_clients.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
