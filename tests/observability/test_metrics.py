"""/metrics over HTTP, parsed by prometheus-client's parser, against the requests made: one worker
(the session's server) and two workers (their values added up from the shared folder); both
engines."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

from tests.observability.conftest import METRICS_TOKEN
from tests.support import http_clients
from tests.support.metrics import requests_of, scrape, value
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.uc_models import create_pending_version, fs_prefix

GET_MODEL = "/api/2.0/mlflow/registered-models/get"
CREATE_MODEL = "/api/2.0/mlflow/registered-models/create"
UC_MODEL = "/api/2.1/unity-catalog/models/{full_name}"
DURATION = "modelyard_http_request_duration_seconds"


def _make_requests(base_url: str, new_connections: bool) -> None:
    """7 GETs answered 404, 3 creates answered 200, 2 UC reads (a templated route) answered
    404, 1 path no route matches. With `new_connections`, one connection each (so that both
    workers get some)."""
    prefix = uuid.uuid4().hex[:8]
    calls = ([("GET", GET_MODEL, {"params": {"name": f"{prefix}-missing"}})] * 7
             + [("POST", CREATE_MODEL, {"json": {"name": f"{prefix}-{n}"}}) for n in range(3)]
             + [("GET", f"/api/2.1/unity-catalog/models/main.default.{prefix}-{n}", {})
                for n in range(2)]
             + [("GET", f"/no/such/{prefix}", {})])
    expected = [404] * 7 + [200] * 3 + [404] * 2 + [404]
    with http_clients.Client(base_url=base_url, timeout=30) as shared:
        for (method, path, extra), status in zip(calls, expected, strict=True):
            if new_connections:
                with http_clients.Client(base_url=base_url, timeout=30) as own:
                    answer = own.request(method, path, **extra)
            else:
                answer = shared.request(method, path, **extra)
            assert answer.status_code == status, answer.text


def _check_counts(before: dict, after: dict) -> None:  # type: ignore[type-arg]
    def delta(route: str, method: str, status: int) -> float:
        return requests_of(after, route, method, status) - requests_of(before, route, method,
                                                                       status)

    assert delta(GET_MODEL, "GET", 404) == 7
    assert delta(CREATE_MODEL, "POST", 200) == 3
    assert delta(UC_MODEL, "GET", 404) == 2
    assert delta("unmatched", "GET", 404) == 1
    # The scrape taken before this one; the current one is still being answered.
    assert delta("/metrics", "GET", 200) == 1
    for route, method, count in ((GET_MODEL, "GET", 7), (CREATE_MODEL, "POST", 3)):
        labels = {"route": route, "method": method}
        assert (value(after, f"{DURATION}_count", **labels)
                - value(before, f"{DURATION}_count", **labels)) == count
        assert value(after, f"{DURATION}_sum", **labels) > value(before, f"{DURATION}_sum",
                                                                 **labels)
        buckets = sorted((float(dict(key[1])["le"]), v) for key, v in after.items()
                         if key[0] == f"{DURATION}_bucket"
                         and dict(key[1]).get("route") == route
                         and dict(key[1]).get("method") == method)
        assert buckets[-1] == (float("inf"), value(after, f"{DURATION}_count", **labels))
        assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    # The creates ran statements through SQLAlchemy and took pooled connections.
    assert (value(after, "modelyard_db_query_duration_seconds_count")
            > value(before, "modelyard_db_query_duration_seconds_count"))
    assert value(after, "modelyard_db_pool_capacity_connections") >= 16
    assert value(after, "modelyard_db_pool_checked_out_connections") >= 0
    assert value(after, "modelyard_webhook_outbox_depth") >= 0
    assert ("modelyard_scrape_error", frozenset({("what", "webhook_outbox")})) not in after


def test_counts_match_the_requests_made(server: ServerProcess) -> None:
    before = scrape(server.url)
    _make_requests(server.url, new_connections=False)
    after = scrape(server.url)
    _check_counts(before, after)
    # This scrape is the one request in flight.
    assert value(after, "modelyard_http_requests_in_flight") == 1
    # One process: prometheus-client's process metrics come along.
    assert value(after, "process_cpu_seconds_total") > 0


def test_counts_add_up_over_two_workers(observed_server: ServerProcess) -> None:
    before = scrape(observed_server.url, METRICS_TOKEN)
    _make_requests(observed_server.url, new_connections=True)
    # The worker that answers the scrape counts its own requests up to the moment; the other
    # hands its counts over within a second (observability/metrics.py, RequestMetrics).
    time.sleep(1.2)
    after = scrape(observed_server.url, METRICS_TOKEN)
    _check_counts(before, after)
    assert value(after, "modelyard_http_requests_in_flight") == 1
    # Both workers' pools: 2 x (8 + 8 overflow).
    assert value(after, "modelyard_db_pool_capacity_connections") == 32


def test_metrics_token(observed_server: ServerProcess) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Basic {METRICS_TOKEN}"}):
        refused = http_clients.get(observed_server.url + "/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error_code"] == "UNAUTHENTICATED"
        assert METRICS_TOKEN not in refused.text
    assert scrape(observed_server.url, METRICS_TOKEN)


def test_upload_bytes_are_counted(server: ServerProcess) -> None:
    name = f"main.default.upload-metrics-{uuid.uuid4().hex[:8]}"
    payload = b"m" * 12345
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        version = create_pending_version(http, name)
        before = scrape(server.url)
        url = http.post("/api/2.0/fs/create-upload-url",
                        json={"path": f"{fs_prefix(name, version)}/weights.bin"}).json()["url"]
        assert http_clients.put(url, content=payload).status_code == 200
    after = scrape(server.url)
    assert (value(after, "modelyard_upload_bytes_total", via="signed_url")
            - value(before, "modelyard_upload_bytes_total", via="signed_url")) == len(payload)


def test_the_sweeper_runs_are_counted(server: ServerProcess) -> None:
    assert value(scrape(server.url), "modelyard_sweeper_runs_total", sweeper="uc_pending",
                 outcome="ok") >= 1


def test_webhook_deliveries_and_their_lag(server: ServerProcess) -> None:
    name = f"metrics-webhook-{uuid.uuid4().hex[:8]}"
    with Receiver() as receiver, http_clients.Client(base_url=server.url, timeout=30) as http:
        assert http.post(CREATE_MODEL, json={"name": name}).status_code == 200
        hook = http.post("/api/2.0/mlflow/registry-webhooks/create", json={
            "model_name": name, "events": ["MODEL_VERSION_CREATED"],
            "http_url_spec": {"url": receiver.url, "secret": "s"}})
        assert hook.status_code == 200, hook.text
        before = scrape(server.url)
        assert http.post("/api/2.0/mlflow/model-versions/create",
                         json={"name": name, "source": "s3://b/m"}).status_code == 200
        assert len(receiver.wait_for(name, 1)) == 1
        deadline = time.monotonic() + 10
        while True:  # the dispatcher records the outcome after the receiver answered
            after = scrape(server.url)
            delivered = (value(after, "modelyard_webhook_deliveries_total", outcome="delivered")
                         - value(before, "modelyard_webhook_deliveries_total",
                                 outcome="delivered"))
            if delivered >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert delivered >= 1
    lag = "modelyard_webhook_delivery_lag_seconds"
    assert value(after, f"{lag}_count") - value(before, f"{lag}_count") >= 1
    assert value(after, f"{lag}_sum") >= value(before, f"{lag}_sum")


def test_an_operators_multiprocess_folder_is_emptied_and_used(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left by an earlier run")
    server = ServerProcess(tmp_path / "data",
                           env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}).start()
    try:
        assert not (folder / "counter_999999.db").exists()
        assert http_clients.get(server.url + GET_MODEL, params={"name": "x"}).status_code == 404
        samples = scrape(server.url)
        assert requests_of(samples, GET_MODEL, "GET", 404) == 1
        assert any(path.name.startswith("counter_") for path in folder.iterdir())
    finally:
        server.stop()


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def test_a_dead_workers_gauges_go_and_its_counts_stay(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    server = ServerProcess(tmp_path / "data", workers=2,
                           env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}).start()
    try:
        assert server.process is not None
        for _ in range(10):  # new connections: both workers answer some
            with http_clients.Client(base_url=server.url) as own:
                assert own.get(GET_MODEL, params={"name": "x"}).status_code == 404
        time.sleep(1.2)  # each worker hands its counts over within a second
        workers = _children(server.process.pid)
        victim = next(pid for pid in workers if (folder / f"counter_{pid}.db").exists())
        assert (folder / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while _children(server.process.pid) - workers == set():  # the supervisor replaces it
            assert time.monotonic() < deadline
            time.sleep(0.1)
        while (folder / f"gauge_livesum_{victim}.db").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert (folder / f"counter_{victim}.db").exists()
        assert requests_of(scrape(server.url), GET_MODEL, "GET", 404) == 10
    finally:
        server.stop()
