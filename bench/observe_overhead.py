"""What metrics, the request id and the JSON request log cost a request, measured in process.

One point read (MLflow `model-versions/get`, SQLite) is driven through the ASGI app directly,
without a socket, so that the difference between two apps is the middleware's. The apps are
timed in interleaved rounds and the best round of each is reported (the machine's speed drifts).

    .venv/bin/python bench/observe_overhead.py [--requests 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from modelyard.app import create_app
from modelyard.config import Settings
from modelyard.store import migrate
from modelyard.store.database import Database

PATH = "/api/2.0/mlflow/model-versions/get"


def _scope(query: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "root_path": "",
            "query_string": query, "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080)}


async def _request(app: Any, method: str, path: str, body: bytes = b"") -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = _scope(b"") | {"method": method, "path": path, "raw_path": path.encode(),
                           "headers": [(b"content-type", b"application/json")]}
    await app(scope, receive, send)
    return status


async def _time(app: Any, requests: int) -> float:
    """CPU seconds per point read."""
    query = b"name=bench-model&version=1"

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    # CPU time, not wall time: the machine is shared, and waiting for a core is not the
    # middleware's cost.
    started = time.process_time()
    for _ in range(requests):
        await app(_scope(query), receive, send)
    return (time.process_time() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="modelyard-observe-bench-"))
    database = Database(Settings(data_dir=data_dir).resolved_database_url)
    migrate.upgrade(database)
    # JSON lines go to a file: the cost of formatting and writing them is part of the figure.
    handler = logging.FileHandler(data_dir / "requests.log")
    from modelyard.observability.logs import JsonFormatter

    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("modelyard.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    bare = create_app(Settings(data_dir=data_dir, metrics=False), database)
    bare.middleware_stack = bare.build_middleware_stack()  # without observability.requests
    apps = {
        "without the observer": bare,
        "request id only (--no-metrics)": create_app(Settings(data_dir=data_dir,
                                                              metrics=False), database),
        "metrics": create_app(Settings(data_dir=data_dir), database),
        "metrics + JSON request log": create_app(Settings(data_dir=data_dir,
                                                          log_format="json"), database),
    }
    loop = asyncio.new_event_loop()
    first = next(iter(apps.values()))
    assert loop.run_until_complete(_request(
        first, "POST", "/api/2.0/mlflow/registered-models/create",
        b'{"name": "bench-model"}')) == 200
    assert loop.run_until_complete(_request(
        first, "POST", "/api/2.0/mlflow/model-versions/create",
        b'{"name": "bench-model", "source": "s3://b/m"}')) == 200
    for app in apps.values():  # warm up each app's caches
        loop.run_until_complete(_time(app, 2000))
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(args.rounds):
        for name, app in apps.items():
            best[name] = min(best[name], loop.run_until_complete(_time(app, args.requests)))
    base = best["without the observer"]
    print(f"point read through the ASGI app, SQLite, best of {args.rounds} x {args.requests}:")
    for name, seconds in best.items():
        print(f"  {name:32s} {seconds * 1e6:7.1f} us/request  ({(seconds - base) * 1e6:+.1f} us)")


if __name__ == "__main__":
    main()
