"""`modelyard serve --workers 2` answers as promptly as one worker.

uvicorn's multi-process mode accepted connections without TCP_NODELAY, so every response
waited for the client's delayed ACK: 40 ms per request on a keep-alive connection, whatever
the work. The bound below is half of what that delay alone adds up to.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.support import http_clients
from tests.support.server import ServerProcess

REQUESTS = 50
DELAYED_ACK_S = 0.040


def test_two_workers_answer_without_the_delayed_ack(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", workers=2).start()
    try:
        with http_clients.Client(base_url=server.url) as client:
            for _ in range(5):  # both workers up, the connection open
                assert client.get("/api/2.0/mlflow/registered-models/search").status_code == 200
            started = time.perf_counter()
            for _ in range(REQUESTS):
                answer = client.get("/api/2.0/mlflow/registered-models/get",
                                    params={"name": "missing"})
                assert answer.status_code == 404
            elapsed = time.perf_counter() - started
        assert elapsed < REQUESTS * DELAYED_ACK_S / 2, (
            f"{REQUESTS} requests took {elapsed:.2f} s: responses wait for delayed ACKs")
    finally:
        server.stop()
