"""What registered webhooks cost an alias move when none of them matches (issue 18, item 6:
"delivering webhooks adds nothing measurable to write latency when no webhook matches").

    python bench/webhook_overhead.py [--moves 400] [--rounds 6] [--webhooks 50]

Starts `modelyard serve` (one worker) on a fresh SQLite database (or --database-url), makes a
model with two versions, then alternates rounds of `--moves` sequential alias moves (MLflow's
`registered-models/alias`, one keep-alive connection) between two states of the same server:
no webhooks at all, and `--webhooks` webhooks none of which matches an alias move (half MLflow 3
webhooks on other events, half Databricks registry webhooks on another model). Alternating
rounds on one server keeps the machine's drift out of the comparison. Reports each state's
median, p90 and p99 latency over all its moves, and what the outbox holds at the end (nothing:
no delivery was written).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy
from modelyard.store.database import sqlite_url_for

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import free_port

MLFLOW = "/api/2.0/mlflow"
#: The model the Databricks registry webhooks watch (not the one whose alias moves).
OTHER_MODEL = "bench-hooks-other"
OTHER_EVENTS = [("registered_model", "created"), ("model_version", "created"),
                ("model_version_tag", "set"), ("prompt", "created")]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def add_webhooks(http: httpx.Client, count: int, target: str) -> list[tuple[str, str]]:
    made = []
    for n in range(count):
        if n % 2 == 0:
            entity, action = OTHER_EVENTS[(n // 2) % len(OTHER_EVENTS)]
            answer = http.post(f"{MLFLOW}/webhooks", json={
                "name": f"other-{n}", "url": target, "status": "ACTIVE",
                "events": [{"entity": entity, "action": action}]})
            answer.raise_for_status()
            made.append(("mlflow", answer.json()["webhook"]["webhook_id"]))
        else:
            answer = http.post(f"{MLFLOW}/registry-webhooks/create", json={
                "model_name": OTHER_MODEL, "events": ["MODEL_VERSION_CREATED"],
                "http_url_spec": {"url": target}, "status": "ACTIVE"})
            answer.raise_for_status()
            made.append(("databricks", answer.json()["webhook"]["id"]))
    return made


def remove_webhooks(http: httpx.Client, made: list[tuple[str, str]]) -> None:
    for kind, webhook_id in made:
        if kind == "mlflow":
            http.delete(f"{MLFLOW}/webhooks/{webhook_id}").raise_for_status()
        else:
            http.delete(f"{MLFLOW}/registry-webhooks/delete",
                        params={"id": webhook_id}).raise_for_status()


def round_of_moves(http: httpx.Client, model: str, moves: int) -> list[float]:
    latencies = []
    for n in range(moves):
        started = time.perf_counter()
        answer = http.post(f"{MLFLOW}/registered-models/alias",
                           json={"name": model, "alias": "champion", "version": str(1 + n % 2)})
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=6, help="rounds per state")
    parser.add_argument("--webhooks", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--modelyard", default=str(Path(sys.executable).parent / "modelyard"))
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-hooks-"))
    port = free_port()
    argv = [args.modelyard, "serve", "--port", str(port), "--data-dir", str(data_dir),
            "--webhook-allow-hosts", "127.0.0.1"]
    if args.database_url:
        argv += ["--database-url", args.database_url]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            model = "bench-hooks"
            for name in (model, OTHER_MODEL):
                http.post(f"{MLFLOW}/registered-models/create", json={"name": name}
                          ).raise_for_status()
            for _ in range(2):
                http.post(f"{MLFLOW}/model-versions/create",
                          json={"name": model, "source": "s3://b/m"}).raise_for_status()
            round_of_moves(http, model, 100)  # warm-up
            results: dict[str, list[float]] = {"none": [], "non_matching": []}
            target = f"http://127.0.0.1:{free_port()}/hook"
            for _ in range(args.rounds):
                results["none"] += round_of_moves(http, model, args.moves)
                made = add_webhooks(http, args.webhooks, target)
                time.sleep(1.2)  # past the webhook cache's refresh
                results["non_matching"] += round_of_moves(http, model, args.moves)
                remove_webhooks(http, made)
                time.sleep(1.2)
        report: dict[str, object] = {
            state: {"moves": len(values),
                    "median_ms": round(statistics.median(values) * 1000, 2),
                    "p90_ms": round(percentile(values, 0.90) * 1000, 2),
                    "p99_ms": round(percentile(values, 0.99) * 1000, 2)}
            for state, values in results.items()}
        report["webhooks"] = args.webhooks
        if not args.database_url:
            engine = sqlalchemy.create_engine(sqlite_url_for(data_dir))
            with engine.connect() as conn:
                report["deliveries_written"] = conn.execute(sqlalchemy.text(
                    "SELECT count(*) FROM webhook_deliveries")).scalar_one()
            engine.dispose()
        report["load_1min"] = os.getloadavg()[0]
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
