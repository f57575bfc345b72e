"""A real HTTP receiver for webhook tests: a threaded http.server that keeps every request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    """Listens on 127.0.0.1; answers every POST with `status` and `reply`."""

    def __init__(self, status: int = 200, reply: str = "ok", port: int = 0) -> None:
        self.status, self.reply = status, reply
        self.requests: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    receiver._changed.notify_all()
                payload = receiver.reply.encode()
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def about(self, model_name: str) -> list[Received]:
        """The requests whose payload names `model_name` (Databricks' `model_name`, MLflow's
        `data.name`; a registry-wide webhook also hears other tests' models)."""
        with self._changed:
            return [r for r in self.requests if model_name in (
                r.json.get("model_name"), (r.json.get("data") or {}).get("name"))]

    def wait_for(self, model_name: str, count: int, timeout: float = 30.0) -> list[Received]:
        """Wait until `count` requests about the model arrived (deliveries are asynchronous)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.about(model_name)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self.about(model_name)
