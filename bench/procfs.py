"""Readings from /proc: CPU time and resident memory of a server's process tree, machine CPU."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (walks /proc/*/stat for parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree = [root]
    index = 0
    while index < len(tree):
        tree.extend(children.get(tree[index], []))
        index += 1
    return [pid for pid in tree if (PROC / str(pid)).exists()]


def start_time(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (tells a reused pid apart)."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None else None


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields is not None else None


def reaped_children_cpu(pid: int) -> float:
    """cutime + cstime in seconds: the CPU of `pid`'s children that have exited and been
    waited for (PostgreSQL's postmaster: every backend that has ended)."""
    fields = _stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS if fields is not None else 0.0


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """utime + stime in seconds of each live process (all its threads, not its children)."""
    out: dict[int, float] = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            out[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings; processes new in `after` count from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def rss_kib(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


@dataclass(frozen=True)
class MachineCpu:
    busy_ticks: int
    total_ticks: int


def machine_cpu() -> MachineCpu:
    """Aggregate CPU counters of the machine (first line of /proc/stat)."""
    values = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user/nice
    return MachineCpu(busy_ticks=total - idle, total_ticks=total)


def idle_check(seconds: float = 1.0) -> float:
    """Cores busy on the machine while this process sleeps for `seconds`."""
    before = machine_cpu()
    time.sleep(seconds)
    return busy_cores(before, machine_cpu())


def busy_cores(before: MachineCpu, after: MachineCpu) -> float:
    total = after.total_ticks - before.total_ticks
    if total <= 0:
        return 0.0
    return (after.busy_ticks - before.busy_ticks) / total * (os.cpu_count() or 1)


class RssSampler:
    """Samples the RSS of a process tree in a background thread and keeps the peaks."""

    def __init__(self, root: int, interval_s: float = 0.2, rescan_every: int = 10) -> None:
        self._root = root
        self._interval_s = interval_s
        self._rescan_every = rescan_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self.peak_total_kib = 0
        self.peak_single_kib = 0
        self.max_processes = 0

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample(process_tree(self._root))

    def sample(self, pids: list[int]) -> None:
        sizes = [rss_kib(pid) for pid in pids]
        live = [size for size in sizes if size > 0]
        self.peak_total_kib = max(self.peak_total_kib, sum(live))
        self.peak_single_kib = max(self.peak_single_kib, max(live, default=0))
        self.max_processes = max(self.max_processes, len(live))

    def _loop(self) -> None:
        pids: list[int] = []
        round_no = 0
        while not self._stop.is_set():
            if round_no % self._rescan_every == 0:
                pids = process_tree(self._root)
            self.sample(pids)
            round_no += 1
            self._stop.wait(self._interval_s)
