"""The request id and `--log-format json`, over HTTP against `serve --workers 2 --log-format json`
on both engines: the id sent in X-Request-Id comes back and is in the request's log line, one
is made up otherwise, and every line of the log is one JSON object without a secret in it."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.observability.conftest import METRICS_TOKEN
from tests.support import http_clients
from tests.support.server import ServerProcess

GET_VERSION = "/api/2.0/mlflow/model-versions/get"


def _log_lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log().splitlines() if line.strip()]


def _line_of(server: ServerProcess, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        found = [line for line in _log_lines(server) if line.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.02)


def test_a_sent_request_id_comes_back_and_is_logged(observed_server: ServerProcess) -> None:
    request_id = f"req-{uuid.uuid4()}"
    answer = http_clients.get(observed_server.url + GET_VERSION,
                              params={"name": "nothing-here", "version": "1"},
                              headers={"X-Request-Id": request_id})
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] == request_id
    line = _line_of(observed_server, request_id)
    assert line["route"] == GET_VERSION
    assert line["path"] == GET_VERSION
    assert line["method"] == "GET"
    assert line["status"] == 404
    assert line["principal"] == "admin"  # no --auth: the local admin
    assert 0 < line["duration_ms"] < 10_000
    assert line["logger"] == "modelyard.access"
    assert line["level"] == "info"


def test_a_request_id_is_made_up_when_none_is_sent(observed_server: ServerProcess) -> None:
    ids = set()
    for headers in ({}, {"X-Request-Id": "x" * 500}, {"X-Request-Id": "has space"}):
        answer = http_clients.get(observed_server.url + "/health", headers=headers)
        assert answer.status_code == 200
        made = answer.headers["x-request-id"]
        assert len(made) == 16 and int(made, 16) >= 0
        ids.add(made)
        line = _line_of(observed_server, made)
        assert (line["route"], line["status"]) == ("/health", 200)
    assert len(ids) == 3


def test_every_log_line_is_json_and_holds_no_secret(observed_server: ServerProcess) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    request_id = f"req-{uuid.uuid4()}"
    answer = http_clients.get(observed_server.url + "/api/2.0/mlflow/registered-models/search",
                              params={"filter": "name = 'x'", "token": secret},
                              headers={"Authorization": f"Bearer {secret}",
                                       "X-Request-Id": request_id})
    assert answer.status_code == 200
    line = _line_of(observed_server, request_id)
    assert line["status"] == 200
    http_clients.get(observed_server.url + "/metrics",
                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = observed_server.log()
    assert secret not in text
    assert METRICS_TOKEN not in text
    lines = _log_lines(observed_server)  # each parses as one JSON object
    assert all(isinstance(entry, dict) and "message" in entry for entry in lines)
    # uvicorn's own lines (the workers starting) are JSON too.
    assert any(entry["logger"].startswith("uvicorn") for entry in lines)


def test_the_request_id_is_returned_without_json_logs(server: ServerProcess) -> None:
    answer = http_clients.get(server.url + "/health", headers={"X-Request-Id": "abc-123"})
    assert answer.headers["x-request-id"] == "abc-123"


def test_the_request_id_is_in_the_audit_trail(server: ServerProcess) -> None:
    request_id = f"audit-{uuid.uuid4()}"
    name = f"request-id-audit-{uuid.uuid4().hex[:8]}"
    created = http_clients.post(server.url + "/api/2.0/mlflow/registered-models/create",
                                json={"name": name}, headers={"X-Request-Id": request_id})
    assert created.status_code == 200
    assert created.headers["x-request-id"] == request_id
    events = http_clients.get(server.url + "/api/modelyard/v1/audit",
                              params={"request_id": request_id}).json()["events"]
    assert [e["object_name"] for e in events] == [name]
    assert events[0]["request_id"] == request_id
