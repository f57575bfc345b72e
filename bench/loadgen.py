"""The load generator: a pool of client processes, one keep-alive connection each.

Every job is a closed loop: a client sends its next request as soon as the previous answer has
arrived, so the number of clients is the concurrency. The clients first send their warm-up
requests (whose answers are checked in full), then wait on a barrier with the parent, which
starts its meters (server CPU, machine CPU) once all are released; only the requests after the
barrier are timed. A job ends when a client has sent all its requests or its time is up.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing as mp
import resource
import signal
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier
from typing import Any

from httpraw import Connection

BARRIER_TIMEOUT_S = 600.0
MAX_ERROR_SAMPLES = 5


@dataclass(frozen=True)
class Expect:
    """What a warm-up answer must contain: a top-level key, and optionally its list length or
    the value of one field of the object under it."""

    key: str
    count: int | None = None
    field_equals: tuple[str, str] | None = None

    def problem(self, status: int, body: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {body[:300]!r}"
        try:
            doc = json.loads(body)
        except ValueError:
            return f"not JSON: {body[:300]!r}"
        if not isinstance(doc, dict) or self.key not in doc:
            if self.count == 0 and isinstance(doc, dict):
                return None  # an empty list may be left out of a proto3 JSON answer
            return f"no {self.key!r} in {body[:300]!r}"
        value = doc[self.key]
        if self.count is not None and (not isinstance(value, list) or len(value) != self.count):
            got = len(value) if isinstance(value, list) else type(value).__name__
            return f"{self.key}: expected {self.count} items, got {got}"
        if self.field_equals is not None:
            name, expected = self.field_equals
            if not isinstance(value, dict) or str(value.get(name)) != expected:
                found = value.get(name) if isinstance(value, dict) else value
                return f"{self.key}.{name}: expected {expected!r}, got {found!r}"
        return None


@dataclass(frozen=True)
class Probe:
    """A warm-up request and what its answer must contain."""

    raw: bytes
    expect: Expect | None


@dataclass(frozen=True)
class Job:
    host: str
    port: int
    warmup: Sequence[Probe]
    requests: Sequence[bytes]
    duration_s: float | None  # None: send every request, however long it takes


@dataclass
class WorkerResult:
    latencies_ns: array[int]
    sent: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    warmup_problems: list[str] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    reconnects: int = 0


@dataclass
class JobOutcome:
    results: list[WorkerResult]
    wall_s: float
    meter: Any  # whatever the meter's stop() returned


class Meter:
    """Prepared before the clients are released, started when they are, stopped when the last
    one has answered."""

    def prepare(self) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> Any: ...


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_job(job: Job, barrier: Barrier) -> WorkerResult:
    conn = Connection(job.host, job.port)
    result = WorkerResult(latencies_ns=array("q"))
    for probe in job.warmup:
        try:
            status, body = conn.request(probe.raw)
        except OSError as exc:
            result.warmup_problems.append(f"{type(exc).__name__}: {exc}")
            continue
        problem = (
            probe.expect.problem(status, body)
            if probe.expect
            else (None if status == 200 else f"HTTP {status}: {body[:300]!r}")
        )
        if problem:
            result.warmup_problems.append(problem)
    barrier.wait(BARRIER_TIMEOUT_S)

    latencies = result.latencies_ns
    clock = time.perf_counter_ns
    cpu0 = _cpu_seconds()
    start = clock()
    deadline = start + int(job.duration_s * 1e9) if job.duration_s is not None else None
    for raw in job.requests:
        result.sent += 1
        sent = clock()
        try:
            status, body = conn.request(raw)
        except OSError as exc:
            result.errors += 1
            if len(result.error_samples) < MAX_ERROR_SAMPLES:
                result.error_samples.append(f"{type(exc).__name__}: {exc}")
            conn.close()
        else:
            latencies.append(clock() - sent)
            if status != 200:
                result.errors += 1
                if len(result.error_samples) < MAX_ERROR_SAMPLES:
                    result.error_samples.append(f"HTTP {status}: {body[:300]!r}")
        if deadline is not None and clock() >= deadline:
            break
    result.wall_s = (clock() - start) / 1e9
    result.cpu_s = _cpu_seconds() - cpu0
    result.reconnects = conn.reconnects
    conn.close()
    return result


def _worker_main(pipe: Pipe, barrier: Barrier) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        job = pipe.recv()
        if job is None:
            return
        pipe.send(_run_job(job, barrier))


class ClientPool:
    """`size` client processes, started once and reused for every job."""

    def __init__(self, size: int) -> None:
        ctx = mp.get_context("spawn")
        self.size = size
        self._barrier = ctx.Barrier(size + 1)
        self.broken = False  # a job failed half-way: the pool must be replaced
        self._pipes: list[Pipe] = []
        self._procs: list[BaseProcess] = []
        for index in range(size):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(
                target=_worker_main,
                args=(child_end, self._barrier),
                name=f"bench-client-{index}",
                daemon=True,
            )
            proc.start()
            child_end.close()
            self._pipes.append(parent_end)
            self._procs.append(proc)

    def run(self, jobs: Sequence[Job], meter: Meter, timeout_s: float) -> JobOutcome:
        """Run one job per client; `timeout_s` bounds the measured part."""
        if len(jobs) != self.size:
            raise ValueError(f"{len(jobs)} jobs for {self.size} clients")
        try:
            return self._run(jobs, meter, timeout_s)
        except BaseException:
            self.broken = True
            raise

    def _run(self, jobs: Sequence[Job], meter: Meter, timeout_s: float) -> JobOutcome:
        for pipe, job in zip(self._pipes, jobs, strict=True):
            pipe.send(job)
        meter.prepare()
        self._barrier.wait(BARRIER_TIMEOUT_S)
        meter.start()
        start = time.perf_counter()
        results: list[WorkerResult] = []
        for pipe in self._pipes:
            left = timeout_s - (time.perf_counter() - start)
            if left <= 0 or not pipe.poll(left):
                raise TimeoutError(f"clients did not finish within {timeout_s:.0f} s")
            results.append(pipe.recv())
        wall_s = time.perf_counter() - start
        return JobOutcome(results=results, wall_s=wall_s, meter=meter.stop())

    def close(self) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        deadline = time.monotonic() + 5
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(2)


def split_round_robin(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


def percentile(sorted_values: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return float(sorted_values[rank - 1])
