"""Results, the comparison table and the markdown report."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import statistics
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass
class ScenarioResult:
    name: str
    requests: int
    errors: int
    wall_s: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # per request
    server_cores: float  # server CPU seconds per second of wall time (1.0 = one core saturated)
    db_cpu_ms: float  # per request, PostgreSQL backends of the server's database (NaN: SQLite)
    client_cpu_ms: float  # per request, all client processes together
    client_cores: float  # client CPU seconds per second of wall time
    machine_busy_cores: float
    reconnects: int = 0
    problems: list[str] = field(default_factory=list)
    note: str = ""  # how the figures were obtained when not by the load run (bench/pilot.py)


@dataclass
class ServerResult:
    key: str
    label: str
    version: str
    engine: str
    load: str = ""
    cold_start_s: float = math.nan
    rss_peak_total_mib: float = math.nan
    rss_peak_single_mib: float = math.nan
    processes: int = 0
    log_path: str = ""
    scenarios: dict[str, ScenarioResult] = field(default_factory=dict)
    failure: str | None = None

    @property
    def problems(self) -> list[str]:
        out = [f"{self.label}: {self.failure}"] if self.failure else []
        for s in self.scenarios.values():
            out.extend(f"{self.label} {s.name}: {p}" for p in s.problems)
            if s.errors and not s.problems:
                out.append(f"{self.label} {s.name}: {s.errors} failed requests")
        return out


# Counts of trouble are summed over the rounds, so that one bad round stays in view; every other
# number is the median of the rounds (see combine_rounds).
_SUMMED = frozenset({"errors", "reconnects"})


def median_of(values: Iterable[float]) -> float:
    """The median of the values that are not NaN (a figure a round has none of, like PostgreSQL
    CPU on SQLite or a failed round's cold start); NaN if none is left."""
    known = [v for v in values if not math.isnan(v)]
    return statistics.median(known) if known else math.nan


def _median_fields(cls: type, results: Sequence[object]) -> dict[str, Any]:
    """Each numeric field of `cls` over `results`: summed for the counts in _SUMMED, otherwise
    the median (the lower middle value for counts, so that it stays a whole number)."""
    out: dict[str, Any] = {}  # Any: a float or an int by field, for dataclasses.replace
    for f in fields(cls):
        values = [getattr(r, f.name) for r in results]
        # The annotations are strings here (from __future__ import annotations).
        if f.type in ("int", int):
            out[f.name] = sum(values) if f.name in _SUMMED else statistics.median_low(values)
        elif f.type in ("float", float):
            out[f.name] = median_of(values)
    return out


def combine_rounds(rounds: Sequence[ServerResult]) -> ServerResult:
    """One server's results over several rounds (round 1 first) as one ServerResult: per scenario
    and per server, the median of each figure over the rounds that have it; errors and
    reconnects summed; the problems, notes and failures of every round kept, each with its
    round. A single round comes back as it is."""
    if len(rounds) == 1:
        return rounds[0]
    first = rounds[0]
    scenarios: dict[str, ScenarioResult] = {}
    names = dict.fromkeys(name for r in rounds for name in r.scenarios)  # in order, no repeats
    for name in names:
        ran = [(n, r.scenarios[name]) for n, r in enumerate(rounds, 1) if name in r.scenarios]
        results = [s for _, s in ran]
        scenarios[name] = replace(
            results[0],
            **_median_fields(ScenarioResult, results),
            problems=[f"round {n}: {p}" for n, s in ran for p in s.problems],
            note="; ".join(f"round {n}: {s.note}" for n, s in ran if s.note),
        )
    failures = [f"round {n}: {r.failure}" for n, r in enumerate(rounds, 1) if r.failure]
    return replace(
        first,
        **_median_fields(ServerResult, rounds),
        scenarios=scenarios,
        failure="; ".join(failures) or None,
    )


def fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio_value(a: float | None, b: float | None) -> float:
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


def times(r: float) -> str:
    if math.isnan(r):
        return "–"
    return f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def ratio(a: float | None, b: float | None) -> str:
    return times(ratio_value(a, b))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


_METRICS: tuple[tuple[str, Callable[[ScenarioResult], float]], ...] = (
    ("ops/s", lambda s: s.ops_per_s),
    ("p50", lambda s: s.p50_ms),
    ("p99", lambda s: s.p99_ms),
    ("CPU", lambda s: s.server_cpu_ms),
)


def _both(results: Sequence[ScenarioResult | None], get: Callable[[ScenarioResult], str]) -> str:
    return " / ".join(get(r) if r else "–" for r in results)


def _with_db(servers: Sequence[ServerResult]) -> bool:
    return any(not math.isnan(r.db_cpu_ms) for s in servers for r in s.scenarios.values())


def scenario_table(servers: Sequence[ServerResult], scenario_names: Sequence[str]) -> str:
    """One row per scenario; for each metric a column per server and the ratio of the first
    server to the second (MLflow / Modelyard)."""
    pair = len(servers) == 2
    with_db = any(not math.isnan(r.db_cpu_ms) for s in servers for r in s.scenarios.values())
    header = ["scenario"]
    for metric, _ in _METRICS:
        header.extend(f"{metric} {s.label}" for s in servers)
        if pair:
            header.append("×")
    if with_db:
        header.append("PG CPU")
    header += ["client CPU", "errors"]
    rows = []
    for name in scenario_names:
        results = [s.scenarios.get(name) for s in servers]
        row = [name]
        for _, get in _METRICS:
            values = [get(r) if r else math.nan for r in results]
            row.extend(fmt(v) for v in values)
            if pair:
                row.append(ratio(values[0], values[1]))
        if with_db:
            row.append(_both(results, lambda r: fmt(r.db_cpu_ms)))
        row.append(_both(results, lambda r: fmt(r.client_cpu_ms)))
        row.append(_both(results, lambda r: str(r.errors)))
        rows.append(row)
    return markdown_table(header, rows)


def legend(servers: Sequence[ServerResult], with_db: bool) -> str:
    both = " / ".join(s.label for s in servers)
    parts = [
        "ops/s: answered requests per second",
        "p50, p99: latency in ms",
        "CPU: server CPU ms per request (its whole process tree)",
    ]
    if len(servers) == 2:
        parts.append(f"×: {servers[0].label} / {servers[1].label}")
    if with_db:
        parts.append(f"PG CPU: ms per request in the PostgreSQL backends of its database ({both})")
    parts.append(f"client CPU: ms per request in the load generator ({both})")
    return "_" + "; ".join(parts) + "._"


def server_table(servers: Sequence[ServerResult]) -> str:
    pair = len(servers) == 2
    header = ["server", *(s.label for s in servers), *(["ratio"] if pair else [])]
    facts: list[tuple[str, list[float]]] = [
        ("cold start (s)", [s.cold_start_s for s in servers]),
        ("RSS peak, all processes (MiB)", [s.rss_peak_total_mib for s in servers]),
        ("RSS peak, largest process (MiB)", [s.rss_peak_single_mib for s in servers]),
    ]
    rows = []
    for label, values in facts:
        rows.append([label, *(fmt(v) for v in values), *([ratio(*values)] if pair else [])])
    rows.append(["processes", *(str(s.processes) for s in servers), *([""] if pair else [])])
    rows.append(["version", *(s.version for s in servers), *([""] if pair else [])])
    rows.append(["data loaded by", *(s.load for s in servers), *([""] if pair else [])])
    return markdown_table(header, rows)


def rounds_table(
    rounds: Sequence[Sequence[ServerResult]],
    combined: Sequence[ServerResult],
    scenario_names: Sequence[str],
) -> str:
    """Server CPU ms per request of every round (each round's servers in the order of
    `combined`), with each round's ratio; then the ratio of the medians (the main table's)
    and the range of the rounds' ratios, which shows how far one round alone could be off."""
    pair = len(combined) == 2
    header = ["scenario"]
    for n in range(1, len(rounds) + 1):
        header.extend(f"r{n} {s.label}" for s in combined)
        if pair:
            header.append(f"r{n} ×")
    header += ["× of medians", "× min–max"] if pair else ["median"]
    rows = []
    for name in scenario_names:
        row = [name]
        ratios = []
        for servers in rounds:
            values = [_server_cpu(s, name) for s in servers]
            row.extend(fmt(v) for v in values)
            if pair:
                ratios.append(ratio_value(*values))
                row.append(times(ratios[-1]))
        medians = [_server_cpu(s, name) for s in combined]
        if pair:
            known = [r for r in ratios if not math.isnan(r)]
            spread = f"{times(min(known))}–{times(max(known))}" if known else "–"
            row += [ratio(*medians), spread]
        else:
            row.append(fmt(medians[0]))
        rows.append(row)
    return markdown_table(header, rows)


def _server_cpu(server: ServerResult, name: str) -> float:
    result = server.scenarios.get(name)
    return result.server_cpu_ms if result else math.nan


def _rounds_legend(servers: Sequence[ServerResult]) -> str:
    if len(servers) != 2:
        return "_Server CPU ms per request in each round, each on a fresh database._"
    a, b = servers[0].label, servers[1].label
    return (
        f"_ms per request. Rounds interleaved: odd rounds ran {a} first, even rounds {b} first, "
        "each on a fresh database. The ratio of the medians (the main table's CPU ×) is the "
        "headline figure; the min–max of the rounds' ratios shows how much one round varies._"
    )


def engine_section(
    engine: str,
    servers: Sequence[ServerResult],
    names: Sequence[str],
    rounds: Sequence[Sequence[ServerResult]] = (),
) -> str:
    """The tables of one engine. `servers`: one result per server (with several `rounds`, the
    combined medians); `rounds`: each round's results, shown in a table of their own when
    there are more than one."""
    several = len(rounds) > 1
    parts = [
        f"### {engine}" + (f" (median of {len(rounds)} rounds)" if several else ""),
        "",
        scenario_table(servers, names),
        "",
        legend(servers, _with_db(servers)),
        "",
        server_table(servers),
    ]
    if several:
        parts += [
            "",
            "#### Server CPU per request, by round",
            "",
            rounds_table(rounds, servers, names),
            "",
            _rounds_legend(servers),
        ]
    notes = [f"{s.label} {r.name}: {r.note}" for s in servers for r in s.scenarios.values()
             if r.note]
    if notes:
        parts += ["", "**Notes:**", "", *(f"- {n}" for n in notes)]
    problems = [p for s in servers for p in s.problems]
    if problems:
        parts += ["", "**Problems:**", "", *(f"- {p}" for p in problems)]
    return "\n".join(parts)


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def _memory() -> str:
    lines = _run(["free", "-m"]).splitlines()
    if len(lines) < 2 or len(lines[1].split()) < 7:
        return "?"
    mem = lines[1].split()
    return f"{mem[1]} MiB total, {mem[6]} MiB available (free -m)"


def machine_info(pg_version: str | None, repo: Path) -> list[str]:
    lscpu = _run(["lscpu"])
    wanted = ("Model name", "CPU(s)", "Thread(s) per core", "CPU max MHz")
    cpu = "; ".join(
        line.split(":", 1)[0].strip() + ": " + line.split(":", 1)[1].strip()
        for line in lscpu.splitlines()
        if ":" in line and line.split(":", 1)[0].strip() in wanted
    )
    commit = _run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"]) or "none"
    dirty = _run(["git", "-C", str(repo), "status", "--porcelain"])
    return [
        f"- nproc: {_run(['nproc'])}; {cpu}",
        f"- memory: {_memory()}",
        f"- kernel: {platform.release()}; Python {platform.python_version()}; "
        f"SQLite {sqlite3.sqlite_version}" + (f"; PostgreSQL {pg_version}" if pg_version else ""),
        f"- repository: {commit}{' (uncommitted changes)' if dirty else ''}",
        f"- load generator: {os.cpu_count()} cores shared with the servers",
    ]
