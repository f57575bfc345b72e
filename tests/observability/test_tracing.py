"""OpenTelemetry traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, each request's server span reaches an
OTLP/HTTP receiver (a real one, in the test, decoding the protobuf export), continuing the
caller's W3C trace; without it, nothing of OpenTelemetry is even imported."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support import http_clients
from tests.support.server import ServerProcess

GET_MODEL = "/api/2.0/mlflow/registered-models/get"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: the spans it was sent."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                export = ExportTraceServiceRequest()
                export.ParseFromString(body)
                for resource_spans in export.resource_spans:
                    service = {a.key: a.value.string_value
                               for a in resource_spans.resource.attributes}["service.name"]
                    for scope_spans in resource_spans.scope_spans:
                        receiver.spans += [(service, span) for span in scope_spans.spans]
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.http.shutdown()


@pytest.fixture(scope="module")
def traced_server(receiver: Receiver,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("traced"), env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}).start()
    try:
        yield server
    finally:
        server.stop()


def _span_named(receiver: Receiver, name: str) -> tuple[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [(service, span) for service, span in receiver.spans if span.name == name]
        if found:
            return found[-1]
        time.sleep(0.05)
    pytest.fail(f"no span {name!r}; got {[s.name for _, s in receiver.spans]}")


def test_a_request_is_a_server_span_in_the_callers_trace(receiver: Receiver,
                                                          traced_server: ServerProcess) -> None:
    answer = http_clients.get(traced_server.url + GET_MODEL, params={"name": "nothing"},
                              headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert answer.status_code == 404
    service, span = _span_named(receiver, f"GET {GET_MODEL}")
    assert service == "modelyard"
    assert span.trace_id.hex() == TRACE_ID
    assert span.parent_span_id.hex() == PARENT_ID
    assert span.kind == span.SPAN_KIND_SERVER
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["http.route"].string_value == GET_MODEL
    assert attributes["http.response.status_code"].int_value == 404
    assert attributes["http.request.method"].string_value == "GET"
    assert span.end_time_unix_nano > span.start_time_unix_nano
    assert receiver.paths[-1] == "/v1/traces"


def test_a_request_without_a_trace_starts_one(receiver: Receiver,
                                              traced_server: ServerProcess) -> None:
    catalogs = traced_server.url + "/api/2.1/unity-catalog/catalogs"
    assert http_clients.get(catalogs).status_code == 200
    _, span = _span_named(receiver, "GET /api/2.1/unity-catalog/catalogs")
    assert span.trace_id.hex() != TRACE_ID
    assert not span.parent_span_id


def _loaded_after_create_app(tmp_path: Path, env: dict[str, str]) -> str:
    tmp_path.mkdir(parents=True)
    code = ("import sys; from pathlib import Path; from modelyard.app import create_app; "
            "from modelyard.config import Settings; from modelyard.store import migrate; "
            "from modelyard.store.database import Database; "
            f"s = Settings(data_dir=Path({str(tmp_path)!r})); "
            "d = Database(s.resolved_database_url); migrate.upgrade(d); create_app(s, d); "
            "print(sorted({m.split('.')[1] for m in sys.modules "
            "if m.startswith('opentelemetry.')}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_opentelemetry_is_imported_only_when_configured(tmp_path: Path) -> None:
    assert _loaded_after_create_app(tmp_path / "off", {}) == "[]"
    loaded = _loaded_after_create_app(tmp_path / "on", {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert "sdk" in loaded and "exporter" in loaded


def test_a_grpc_protocol_is_refused_at_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("modelyard")), "serve", "--data-dir",
         str(tmp_path), "--port", "0"], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
             "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert done.returncode == 2
    assert "http/protobuf" in done.stderr
