"""Start a real `mlflow server` (the tracking server Modelyard's versions point into)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.support.server import ServerProcess, free_port

MLFLOW = str(Path(sys.executable).with_name("mlflow"))


class MlflowServerProcess(ServerProcess):
    """`mlflow server` on SQLite, serving its artifacts itself (`mlflow-artifacts:` URIs).

    Started, health-checked and stopped as a Modelyard server is; it needs several seconds to
    start, so call `start(timeout=120)`.
    """

    def __init__(self, root: Path) -> None:
        # Not super().__init__(): that builds a `modelyard serve` command line.
        self.data_dir = root
        self.database_url = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / f"mlflow-server-{self.port}.log"
        self.args = [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(self.port),
                     "--workers", "1",
                     "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                     "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts"]
        # No background job runner: not needed here, and it costs CPU on a shared machine.
        self.env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = None
