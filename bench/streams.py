"""Idle event-stream subscribers: how many one server process holds, what they cost in memory,
and how long an alias move takes to reach all of them (issue 18, item 6).

    python bench/streams.py --subscribers 10000 [--moves 5] [--engine sqlite|postgres]

Starts `modelyard serve` (one worker, --max-connections above the subscriber count) on a fresh
SQLite database (or a fresh PostgreSQL database with --database-url), creates a model with two
versions, opens N streams filtered to it with raw asyncio sockets (one request each, then only
reading, by protocol callbacks), lets them sit idle, then moves @champion between the versions
`--moves` times. For each move, every subscriber's latency is the time from just before the PUT
to the moment its socket delivered the event's `data:` line; the report gives median, p99 and
max over all (subscriber, move) pairs, the number that missed a move, and the server's RSS
(VmRSS of the process tree) idle before subscribing, with N idle streams, and after the moves.
With --py-spy, the server is profiled during the moves (collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procfs import process_tree
from servers import free_port

STREAM = "/api/modelyard/v1/events/stream"


def rss_mib(root: int) -> float:
    total_kib = 0
    for pid in process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total_kib / 1024


def call(url: str, method: str, path: str, body: dict[str, object] | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"{}")


class Subscriber(asyncio.Protocol):
    """One stream, read by a protocol callback (no task per stream): the load generator's own
    cost per event is one callback and a byte search, so that the latency measured is mostly
    the server's. `received`: when each event's `data:` line arrived."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received: list[float] = []
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.started.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 200"):
                self.started.set_exception(RuntimeError(self.head.decode(errors="replace")))
                return
            self.started.set_result(None)
            data = self.head[end + 4:]
        # Chunked framing: the chunk-size lines never hold "data: ".
        text = self.tail + data
        self.received.extend([now] * text.count(b"data: "))
        self.tail = text[-5:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.started.done():
            self.started.set_exception(exc or ConnectionError("closed"))

    async def open(self, port: int, model: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, "127.0.0.1", port)
        assert self.transport is not None
        self.transport.write(f"GET {STREAM}?model={model}&alias=champion HTTP/1.1\r\n"
                             f"Host: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
                             .encode())
        await self.started

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.subscribers + 200:
        raise SystemExit(f"open-files limit {hard} is below {args.subscribers + 200}")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    port = free_port()
    argv = [args.modelyard, "serve", "--port", str(port), "--data-dir", str(data_dir),
            "--max-connections", str(args.subscribers + 1000)]
    if args.database_url:
        argv += ["--database-url", args.database_url]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    subscribers: list[Subscriber] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                call(url, "GET", "/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        model = "bench-streams"
        call(url, "POST", "/api/2.0/mlflow/registered-models/create", {"name": model})
        for _ in range(2):
            call(url, "POST", "/api/2.0/mlflow/model-versions/create",
                 {"name": model, "source": "s3://b/m"})
        rss_before = rss_mib(server.pid)
        opened = time.perf_counter()
        for start in range(0, args.subscribers, 500):  # in waves: the accept queue is finite
            wave = [Subscriber() for _ in range(min(500, args.subscribers - start))]
            await asyncio.gather(*(s.open(port, model) for s in wave))
            subscribers.extend(wave)
        open_seconds = time.perf_counter() - opened
        await asyncio.sleep(args.idle)
        rss_idle = rss_mib(server.pid)
        latencies: list[float] = []
        missed = 0
        profiler = None
        if args.py_spy:  # samples the server while the moves fan out (a flame graph, SVG)
            profiler = subprocess.Popen(
                [args.py_spy, "record", "--pid", str(server.pid), "--rate", "250",
                 "--output", args.profile_output, "--format", args.profile_format],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.0)  # py-spy attaches
        for move in range(args.moves):
            before = time.perf_counter()
            await asyncio.to_thread(call, url, "PUT", f"/api/modelyard/v1/models/{model}"
                                    "/aliases/champion", {"version": str(1 + move % 2)})
            await asyncio.sleep(args.wait)
            for s in subscribers:
                if len(s.received) > move:
                    latencies.append(s.received[move] - before)
                else:
                    missed += 1
        if profiler is not None:
            profiler.send_signal(2)  # SIGINT: py-spy writes its output and exits
            profiler.wait(60)
        rss_after = rss_mib(server.pid)
        duplicates = sum(len(s.received) > args.moves for s in subscribers)
        latencies.sort()
        return {
            "subscribers": args.subscribers, "moves": args.moves,
            "open_seconds": round(open_seconds, 1),
            "rss_mib_before": round(rss_before, 1), "rss_mib_idle": round(rss_idle, 1),
            "rss_mib_after_moves": round(rss_after, 1),
            "fanout_ms_median": round(statistics.median(latencies) * 1000, 1),
            "fanout_ms_p99": round(latencies[max(0, math.ceil(len(latencies) * 0.99) - 1)]
                                   * 1000, 1),
            "fanout_ms_max": round(latencies[-1] * 1000, 1),
            "missed": missed, "subscribers_with_extra_events": duplicates,
            "load_1min": os.getloadavg()[0],
        }
    finally:
        for s in subscribers:
            s.close()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=5)
    parser.add_argument("--idle", type=float, default=5.0,
                        help="seconds the streams sit idle before the RSS reading")
    parser.add_argument("--wait", type=float, default=3.0,
                        help="seconds given each move to reach every subscriber")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--py-spy", default=None,
                        help="path to py-spy: profile the server during the moves")
    parser.add_argument("--profile-output", default="streams-profile.txt")
    parser.add_argument("--profile-format", default="raw",
                        help="py-spy's --format: raw (collapsed stacks) or flamegraph")
    parser.add_argument("--modelyard", default=str(Path(sys.executable).parent / "modelyard"))
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
