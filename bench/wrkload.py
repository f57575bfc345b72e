"""The native load generator: the read scenarios driven by wrk (`apt-get install wrk`).

On a 2-core machine the Python client processes take a good share of the CPU the server needs
(≈0.4 cores at 8,000 requests/s), which hides how a second server worker scales. wrk is one
epoll thread in C: it sends the same pre-drawn requests at the same concurrency for a fraction
of that CPU.

A Lua script cycles through the pre-encoded requests (GETs and POSTs alike: `request()` returns
the raw bytes), counts every answer that is not a 200 and, at the end, prints the counts and the
latency percentiles on one line that `run_wrk` parses. wrk runs for a fixed duration (it cannot
stop early on a request count). Its CPU is read from /proc/<pid>/stat after it exits but before
it is reaped, so that it covers the whole run and nothing else.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen import Meter
from procfs import cpu_by_pid

MARKER = "MODELYARD-BENCH"
# One thread drives all connections: at this server's rates it is far from busy, and a second
# thread would only compete with the server for the two cores.
THREADS = 1
TIMEOUT_S = 60  # wrk's default (2 s) would count slow answers as errors and drop their latency
EXIT_GRACE_S = 30.0
MAX_ERROR_SAMPLES = 5

# Requests file: "<byte length>\n<raw request>" per request, read by every wrk thread.
LUA_SCRIPT = r"""
requests = {}
cursor = 1
non200 = 0
samples = {}
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = string.find(data, "\n", pos, true)
    local len = tonumber(string.sub(data, pos, nl - 1))
    requests[#requests + 1] = string.sub(data, nl + 1, nl + len)
    pos = nl + len + 1
  end
  -- threads start at different places so that they do not send the same requests in step
  cursor = (offset * 7919) % #requests + 1
end

function request()
  local r = requests[cursor]
  cursor = cursor % #requests + 1
  return r
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if #samples < 5 then
      samples[#samples + 1] = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, _)
  local bad = 0
  local lines = {}
  for _, t in ipairs(threads) do
    bad = bad + t:get("non200")
    for _, s in ipairs(t:get("samples")) do
      lines[#lines + 1] = s
    end
  end
  local e = summary.errors
  io.write(string.format(
    "MODELYARD-BENCH requests=%.0f duration_us=%.0f non200=%.0f connect=%.0f read=%.0f " ..
    "write=%.0f timeout=%.0f p50_us=%.1f p99_us=%.1f\n",
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
  for _, s in ipairs(lines) do
    io.write("MODELYARD-BENCH-ERROR " .. string.gsub(s, "[\r\n]", " ") .. "\n")
  end
end
"""


def find_wrk() -> str | None:
    return shutil.which("wrk")


@dataclass
class WrkOutcome:
    requests: int  # answers received in the measured time
    errors: int  # non-200 answers, socket errors and timeouts
    duration_s: float  # wrk's own measure of the run
    p50_ms: float
    p99_ms: float
    client_cpu_s: float  # utime + stime of the wrk process
    wall_s: float  # what the meter covered: wrk's start to its exit
    meter: Any  # whatever the meter's stop() returned
    error_samples: list[str] = field(default_factory=list)


def write_requests(path: Path, requests: Sequence[bytes]) -> None:
    with path.open("wb") as out:
        for raw in requests:
            out.write(b"%d\n" % len(raw) + raw)


def run_wrk(
    binary: str,
    url: str,
    requests: Sequence[bytes],
    connections: int,
    duration_s: float,
    meter: Meter,
) -> WrkOutcome:
    """Send `requests` round and round on `connections` keep-alive connections for
    `duration_s` seconds; the meter covers wrk's whole run."""
    with tempfile.TemporaryDirectory(prefix="modelyard-wrk-") as tmp:
        script, data = Path(tmp) / "cycle.lua", Path(tmp) / "requests"
        script.write_text(LUA_SCRIPT)
        write_requests(data, requests)
        argv = [
            binary,
            f"--threads={min(THREADS, connections)}",
            f"--connections={connections}",
            f"--duration={max(1, math.ceil(duration_s))}s",
            f"--timeout={TIMEOUT_S}s",
            f"--script={script}",
            url,
            "--",
            str(data),
        ]
        meter.prepare()
        meter.start()
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait_unreaped(proc.pid, duration_s + EXIT_GRACE_S)
            wall_s = time.perf_counter() - started
            reading = meter.stop()
            client_cpu_s = cpu_by_pid([proc.pid]).get(proc.pid, math.nan)
            output = proc.communicate()[0].decode(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {output[-2000:]}")
    return _parse(output, client_cpu_s, wall_s, reading)


def _wait_unreaped(pid: int, timeout_s: float) -> None:
    """Wait until `pid` has exited, leaving it a zombie so that /proc still has its CPU times."""
    deadline = time.monotonic() + timeout_s
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise TimeoutError(f"wrk still running {timeout_s:.0f} s after it should have ended")
        time.sleep(0.02)


def _parse(output: str, client_cpu_s: float, wall_s: float, reading: Any) -> WrkOutcome:
    summary = next((ln for ln in output.splitlines() if ln.startswith(MARKER + " ")), None)
    if summary is None:
        raise RuntimeError(f"no summary line in wrk's output: {output[-2000:]}")
    values = {k: float(v) for k, v in (item.split("=") for item in summary.split()[1:])}
    prefix = MARKER + "-ERROR "
    samples = [ln[len(prefix) :] for ln in output.splitlines() if ln.startswith(prefix)]
    socket_errors = {k: int(values[k]) for k in ("connect", "read", "write", "timeout")}
    samples += [f"wrk: {n} {kind} error(s)" for kind, n in socket_errors.items() if n]
    return WrkOutcome(
        requests=int(values["requests"]),
        errors=int(values["non200"]) + sum(socket_errors.values()),
        duration_s=values["duration_us"] / 1e6,
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        client_cpu_s=client_cpu_s,
        wall_s=wall_s,
        meter=reading,
        error_samples=samples[:MAX_ERROR_SAMPLES],
    )
