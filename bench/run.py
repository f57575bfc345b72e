"""Side-by-side benchmark of MLflow 3.17.2 and Modelyard over the MLflow Model Registry REST API.

    python bench/run.py --size smoke|small|large --engine sqlite|postgres|both [--rounds N]
        [--out FILE]

For each database engine and each server (MLflow first, then Modelyard; never both at once) it
starts the server on a fresh database, measures its cold start, loads the data set (through the
REST API, or with SQL for the large size), runs the same scenarios with the same requests at the
same concurrency, stops the server and drops its database. Then it prints one table per engine.

With --rounds N it does all that N times per engine, the order of the servers alternating from
one round to the next (MLflow first in odd rounds, Modelyard first in even ones), and the tables
show the median of the rounds, with each round's server CPU and ratio in a table of its own: on
a noisy machine one round's figures, and so their ratio, vary by ±15%. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType

from sqlalchemy.engine import make_url

import auth
import pilot
from databases import Databases, PgConfig, SeedReport, seed_mlflow, seed_modelyard
from loadgen import BARRIER_TIMEOUT_S, ClientPool, Job, JobOutcome, Meter, Probe, percentile
from procfs import (
    MachineCpu,
    RssSampler,
    busy_cores,
    cpu_by_pid,
    cpu_delta,
    idle_check,
    machine_cpu,
    parent_of,
    process_tree,
    reaped_children_cpu,
)
from report import ScenarioResult, ServerResult, combine_rounds, engine_section, machine_info
from servers import HOST, RunningServer, ServerKind, check_binary, server_kinds, start_server
from workload import (
    POPULATE,
    READ_SCENARIOS,
    SIZES,
    Dataset,
    Requests,
    Size,
    populate_jobs,
    read_jobs,
    scenario_names,
)
from wrkload import WrkOutcome, find_wrk, run_wrk

REPO = Path(__file__).resolve().parent.parent
SEEDERS: dict[str, Callable[[str, int, int], SeedReport]] = {
    "mlflow": seed_mlflow,
    "modelyard": seed_modelyard,
}
POPULATE_TIMEOUT_S = 3600.0
RANDOM_SEED = 20261126


@dataclass(frozen=True)
class Options:
    size: Size
    engines: list[str]
    servers: list[ServerKind]
    scenarios: list[str]
    concurrency: int
    workers: int
    wrk: str | None  # --loadgen wrk: the path of wrk; None: the Python client processes
    start_timeout_s: float
    keep: bool
    pg: PgConfig
    auth: bool = False  # --auth: bench/auth.py
    rounds: int = 1  # --rounds: every server this many times per engine, alternating the order


@dataclass(frozen=True)
class Reading:
    server_cpu_s: float
    db_cpu_s: float  # PostgreSQL backends serving the server's database; NaN on SQLite
    machine_busy_cores: float


class ServerMeter(Meter):
    """CPU of the server's process tree, of its PostgreSQL backends and of the whole machine
    between start() and stop().

    The processes are listed in prepare(), before the clients are released, so that start()
    only reads a few /proc files. Processes that appear during the run count from zero.
    """

    def __init__(self, pid: int, db_backends: Callable[[], list[int]] | None) -> None:
        self._pid = pid
        self._db_backends = db_backends
        self._pids: list[int] = []
        self._db_pids: list[int] = []
        self._cpu0: dict[int, float] = {}
        self._db0: dict[int, float] = {}
        self._machine0 = MachineCpu(0, 0)
        # PostgreSQL's postmaster, and the CPU of its children that had ended at the start: a
        # backend that ends during the run (a pool's overflow connection, closed when handed
        # back: MLflow's under 8 clients) is found there, not among the backends at the end.
        self._postmaster: int | None = None
        self._reaped0 = 0.0

    def prepare(self) -> None:
        self._pids = process_tree(self._pid)
        self._db_pids = self._db_backends() if self._db_backends else []
        self._postmaster = next((p for p in map(parent_of, self._db_pids) if p), None)

    def start(self) -> None:
        self._machine0 = machine_cpu()
        self._cpu0 = cpu_by_pid(self._pids)
        self._db0 = cpu_by_pid(self._db_pids)
        if self._postmaster is not None:
            self._reaped0 = reaped_children_cpu(self._postmaster)

    def stop(self) -> Reading:
        cpu = cpu_delta(self._cpu0, cpu_by_pid(process_tree(self._pid)))
        db_cpu = math.nan
        if self._db_backends:
            alive = cpu_by_pid(self._db_backends())
            db_cpu = cpu_delta(self._db0, alive)
            if self._postmaster is not None:
                # Backends that ended during the run: all their CPU is in the postmaster's
                # children's time, less what the ones alive at the start had used before it.
                # (Any other backend of the cluster that ended meanwhile counts too: the
                # benchmark's machine runs nothing else on it.)
                ended_before = sum(used for pid, used in self._db0.items() if pid not in alive)
                db_cpu += reaped_children_cpu(self._postmaster) - self._reaped0 - ended_before
        return Reading(cpu, db_cpu, busy_cores(self._machine0, machine_cpu()))


def summarize(name: str, outcome: JobOutcome) -> ScenarioResult:
    latencies = sorted(ns for r in outcome.results for ns in r.latencies_ns)
    requests = sum(r.sent for r in outcome.results)
    reading: Reading = outcome.meter
    client_cpu_s = sum(r.cpu_s for r in outcome.results)
    per_request = 1000 / requests if requests else math.nan
    problems = [p for r in outcome.results for p in r.warmup_problems]
    problems += [p for r in outcome.results for p in r.error_samples]
    return ScenarioResult(
        name=name,
        requests=requests,
        errors=sum(r.errors for r in outcome.results),
        wall_s=outcome.wall_s,
        ops_per_s=len(latencies) / outcome.wall_s if outcome.wall_s else math.nan,
        p50_ms=percentile(latencies, 50) / 1e6,
        p99_ms=percentile(latencies, 99) / 1e6,
        server_cpu_ms=reading.server_cpu_s * per_request,
        server_cores=reading.server_cpu_s / outcome.wall_s if outcome.wall_s else math.nan,
        db_cpu_ms=reading.db_cpu_s * per_request,
        client_cpu_ms=client_cpu_s * per_request,
        client_cores=client_cpu_s / outcome.wall_s if outcome.wall_s else math.nan,
        machine_busy_cores=reading.machine_busy_cores,
        reconnects=sum(r.reconnects for r in outcome.results),
        problems=sorted(set(problems))[:10],
    )


def summarize_wrk(name: str, warmup: JobOutcome, outcome: WrkOutcome) -> ScenarioResult:
    """The result of a read scenario whose warm-up ran on the client pool and whose measured
    part ran with wrk."""
    reading: Reading = outcome.meter
    per_request = 1000 / outcome.requests if outcome.requests else math.nan
    problems = [p for r in warmup.results for p in r.warmup_problems] + outcome.error_samples
    return ScenarioResult(
        name=name,
        requests=outcome.requests,
        errors=outcome.errors,
        wall_s=outcome.duration_s,
        ops_per_s=outcome.requests / outcome.duration_s if outcome.duration_s else math.nan,
        p50_ms=outcome.p50_ms,
        p99_ms=outcome.p99_ms,
        server_cpu_ms=reading.server_cpu_s * per_request,
        server_cores=reading.server_cpu_s / outcome.wall_s if outcome.wall_s else math.nan,
        db_cpu_ms=reading.db_cpu_s * per_request,
        client_cpu_ms=outcome.client_cpu_s * per_request,
        client_cores=outcome.client_cpu_s / outcome.wall_s if outcome.wall_s else math.nan,
        machine_busy_cores=reading.machine_busy_cores,
        problems=sorted(set(problems))[:10],
    )


def run_read_with_wrk(
    wrk: str,
    port: int,
    pool: ClientPool,
    warmups: list[list[Probe]],
    measured: list[list[bytes]],
    duration_s: float,
    meter: ServerMeter,
) -> tuple[JobOutcome, WrkOutcome]:
    """Checked warm-up on the client pool (which then sits idle), measured part with wrk."""
    warm_jobs = [Job(HOST, port, w, (), None) for w in warmups]
    warmup = pool.run(warm_jobs, Meter(), BARRIER_TIMEOUT_S)
    # Interleave the clients' lists so that wrk sends the requests in the order they were drawn.
    requests = [raw for batch in zip(*measured, strict=True) for raw in batch]
    url = f"http://{HOST}:{port}"
    return warmup, run_wrk(wrk, url, requests, len(warmups), duration_s, meter)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_scenarios(
    server: RunningServer,
    opts: Options,
    pool: ClientPool,
    result: ServerResult,
    tag: str,
    db_backends: Callable[[], list[int]] | None,
    cancel_queries: Callable[[], None] | None = None,
    credentials: auth.Credentials | None = None,
) -> None:
    writes = Requests(HOST, server.port, credentials.writer if credentials else None)
    req = Requests(HOST, server.port, credentials.reader if credentials else None)
    size = opts.size
    dataset = Dataset(size.models, size.versions)
    for name in opts.scenarios:
        if name == POPULATE:
            # Seeded data sets get extra models ("p…") so that writes are measured at scale.
            target = (
                Dataset(size.populate_models, size.versions, "p", "extra")
                if size.seed_sql
                else dataset
            )
            jobs = [
                Job(HOST, server.port, (), requests, None)
                for requests in populate_jobs(writes, target, opts.concurrency)
            ]
            timeout = POPULATE_TIMEOUT_S
        else:
            scenario = next(s for s in READ_SCENARIOS if s.name == name)
            warmups, measured = read_jobs(
                scenario, writes if scenario.writes else req, dataset, opts.concurrency,
                size.requests,
                size.warmup_per_client, RANDOM_SEED,
            )  # fmt: skip
            meter = ServerMeter(server.pid, db_backends)
            flight = pilot.fly(HOST, server.port, warmups[0][0], meter)
            if flight.slow:
                if not flight.answered and cancel_queries is not None:
                    cancel_queries()
                result.scenarios[name] = summarize_pilot(name, flight)
                log_scenario(tag, result.scenarios[name])
                continue
            if opts.wrk:
                meter = ServerMeter(server.pid, db_backends)
                warmup, wrk_outcome = run_read_with_wrk(
                    opts.wrk, server.port, pool, warmups, measured, size.max_seconds, meter
                )
                result.scenarios[name] = summarize_wrk(name, warmup, wrk_outcome)
                log_scenario(tag, result.scenarios[name])
                continue
            jobs = [
                Job(HOST, server.port, w, m, size.max_seconds)
                for w, m in zip(warmups, measured, strict=True)
            ]
            timeout = size.max_seconds + 300
        outcome = pool.run(jobs, ServerMeter(server.pid, db_backends), timeout)
        result.scenarios[name] = summarize(name, outcome)
        log_scenario(tag, result.scenarios[name])


def summarize_pilot(name: str, flight: pilot.PilotOutcome) -> ScenarioResult:
    """A scenario measured by its pilot request alone (see bench/pilot.py)."""
    reading: Reading = flight.reading
    ms = flight.seconds * 1000
    return ScenarioResult(
        name=name,
        requests=1,
        errors=0 if flight.answered and flight.problem is None else 1,
        wall_s=flight.seconds,
        ops_per_s=1 / flight.seconds,
        p50_ms=ms,
        p99_ms=ms,
        server_cpu_ms=reading.server_cpu_s * 1000,
        server_cores=reading.server_cpu_s / flight.seconds,
        db_cpu_ms=reading.db_cpu_s * 1000,
        client_cpu_ms=math.nan,
        client_cores=math.nan,
        machine_busy_cores=reading.machine_busy_cores,
        problems=[flight.problem] if flight.problem else [],
        note=pilot.note(flight),
    )


def log_scenario(tag: str, r: ScenarioResult) -> None:
    db = "" if math.isnan(r.db_cpu_ms) else f", PostgreSQL CPU {r.db_cpu_ms:.2f} ms/req"
    log(
        f"{tag} {r.name}: {r.requests} req in {r.wall_s:.1f} s, {r.ops_per_s:.0f} ops/s, "
        f"p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, server CPU {r.server_cpu_ms:.2f} "
        f"ms/req ({r.server_cores:.2f} cores){db}, client CPU {r.client_cpu_ms:.2f} ms/req "
        f"({r.client_cores:.2f} cores), machine busy {r.machine_busy_cores:.1f} cores, "
        f"errors {r.errors}"
    )
    for problem in r.problems[:3]:
        log(f"{tag}   problem: {problem}")
    if r.note:
        log(f"{tag}   note: {r.note}")


def bench_server(
    kind: ServerKind,
    engine: str,
    opts: Options,
    pool: ClientPool,
    dbs: Databases,
    workdir: Path,
    round_no: int = 1,
) -> ServerResult:
    several = opts.rounds > 1
    tag = f"[{engine}{f' round {round_no}/{opts.rounds}' if several else ''}] {kind.label}:"
    result = ServerResult(kind.key, kind.label, kind.version(), engine)
    data_dir = workdir / (f"{engine}-{kind.key}" + (f"-round{round_no}" if several else ""))
    data_dir.mkdir(parents=True)
    db_url = dbs.create(engine, kind.key, data_dir)
    size = opts.size
    server: RunningServer | None = None
    setup = auth.AuthSetup()
    try:
        if opts.auth:
            setup = auth.prepare(kind.key, engine, data_dir, dbs)
        result.load = "REST API (populate)"
        if size.seed_sql:
            log(f"{tag} creating the schema (first start), then seeding with SQL")
            start_server(kind, data_dir, db_url, opts.workers, opts.start_timeout_s,
                         setup.args, setup.env).stop()
            seeded = SEEDERS[kind.key](db_url, size.models, size.versions)
            result.load = f"SQL seed ({seeded.rows:,} rows, {seeded.seconds:.0f} s)" + (
                f" + {size.populate_models} models via API" if POPULATE in opts.scenarios else ""
            )
            log(f"{tag} seeded {seeded.rows:,} rows in {seeded.seconds:.1f} s")
        server = start_server(kind, data_dir, db_url, opts.workers, opts.start_timeout_s,
                              setup.args, setup.env)
        result.cold_start_s = server.cold_start_s
        result.log_path = str(server.log_path)
        log(
            f"{tag} healthy after {server.cold_start_s:.2f} s "
            f"(pid {server.pid}, port {server.port})"
        )
        try:
            credentials = (auth.credentials(kind.key, setup, server.port, data_dir)
                           if opts.auth else None)
            db_backends = cancel_queries = None
            if engine == "postgres":
                dbname = str(make_url(db_url).database)
                db_backends = lambda: opts.pg.backend_pids(dbname)  # noqa: E731
                cancel_queries = lambda: opts.pg.cancel_queries(dbname)  # noqa: E731
            with RssSampler(server.pid) as rss:
                run_scenarios(server, opts, pool, result, tag, db_backends, cancel_queries,
                              credentials)
            result.rss_peak_total_mib = rss.peak_total_kib / 1024
            result.rss_peak_single_mib = rss.peak_single_kib / 1024
            result.processes = rss.max_processes
        finally:
            server.stop()
    except Exception as exc:  # reported in the table; the other server still runs
        result.failure = f"{type(exc).__name__}: {exc}"
        log(f"{tag} FAILED: {result.failure}")
        if server is not None:
            log(f"{tag} last lines of {server.log_path}:\n{server.log_tail()}")
    finally:
        for url in [db_url, *setup.database_urls]:
            dbs.drop(url)
    return result


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument(
        "--servers", default="mlflow,modelyard", help="comma-separated; default: both"
    )
    parser.add_argument("--scenarios", default="", help="comma-separated subset; default: all")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent connections (default 8)"
    )
    parser.add_argument(
        "--loadgen",
        choices=("python", "wrk"),
        default="python",
        help="read scenarios: Python client processes (default) or wrk (apt-get install wrk)",
    )
    parser.add_argument(
        "--requests", type=int, help="requests per read scenario (overrides --size)"
    )
    parser.add_argument(
        "--duration", type=float, help="max seconds per read scenario (overrides --size)"
    )
    parser.add_argument(
        "--load", choices=("api", "sql"), help="how to load the data set (default: by size)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server worker processes (both servers)"
    )
    parser.add_argument("--out", type=Path, help="write the report as markdown here")
    parser.add_argument("--json", type=Path, help="write the raw results as JSON here")
    parser.add_argument("--mlflow-bin", help="default: mlflow next to this Python")
    parser.add_argument("--modelyard-bin", help="default: modelyard next to this Python")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument(
        "--start-timeout", type=float, default=120.0, help="seconds to become healthy"
    )
    parser.add_argument("--keep", action="store_true", help="keep data dirs and server logs")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every server this many times per engine, alternating their order, and report "
        "the medians (default 1)",
    )
    parser.add_argument(
        "--auth", action="store_true",
        help="both servers require credentials; reads as an ordinary user (bench/auth.py)",
    )
    args = parser.parse_args(argv)

    size = SIZES[args.size]
    overrides: dict[str, object] = {}
    if args.requests:
        overrides["requests"] = args.requests
    if args.duration:
        overrides["max_seconds"] = args.duration
    if args.load:
        overrides["seed_sql"] = args.load == "sql"
    size = replace(size, **overrides)  # type: ignore[arg-type]

    kinds = server_kinds(args.mlflow_bin, args.modelyard_bin)
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not wanted or set(wanted) - set(kinds):
        parser.error(f"--servers takes a subset of {','.join(kinds)}")
    servers = [kinds[k] for k in kinds if k in wanted]  # MLflow first: ratio = MLflow / Modelyard
    missing = [m for m in (check_binary(s) for s in servers) if m]
    if missing:
        parser.error("; ".join(missing) + " (use --servers to run only the other one)")

    scenarios = scenario_names([s.strip() for s in args.scenarios.split(",") if s.strip()])
    if not size.seed_sql and POPULATE not in scenarios:
        scenarios.insert(0, POPULATE)  # the data set is loaded by the populate scenario
    if args.concurrency < 1 or args.workers < 1 or args.rounds < 1:
        parser.error("--concurrency, --workers and --rounds must be at least 1")
    wrk = find_wrk() if args.loadgen == "wrk" else None
    if args.loadgen == "wrk" and wrk is None:
        parser.error(
            "--loadgen wrk: wrk is not on PATH; install it (apt-get install -y wrk) "
            "or use the default --loadgen python"
        )
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    opts = Options(
        size=size,
        engines=engines,
        servers=servers,
        scenarios=scenarios,
        concurrency=args.concurrency,
        workers=args.workers,
        wrk=wrk,
        start_timeout_s=args.start_timeout,
        keep=args.keep,
        pg=PgConfig(args.pg_host, args.pg_port, args.pg_user),
        auth=args.auth,
        rounds=args.rounds,
    )
    return args, opts


def load_description(opts: Options) -> str:
    size, n = opts.size, opts.concurrency
    text = (
        f"- Load: {n} client processes, one keep-alive connection each (closed loop, "
        f"concurrency {n}); read scenarios send up to {size.requests:,} requests or run for "
        f"{size.max_seconds:.0f} s, after {size.warmup_per_client} checked warm-up requests per "
        "client. Every server gets the same requests."
    )
    if opts.wrk:
        text += (
            f" With `--loadgen wrk` the measured part of each read scenario is wrk ({opts.wrk}, "
            f"one thread, {n} keep-alive connections) cycling through those {size.requests:,} "
            f"requests for {math.ceil(size.max_seconds)} s; any answer but 200 is an error; "
            "client CPU is wrk's. Populate still runs on the client processes."
        )
    return text


def rounds_description(opts: Options) -> list[str]:
    if opts.rounds == 1:
        return []
    labels = [s.label for s in opts.servers]
    order = (
        f", interleaved (odd rounds {labels[0]} first, even rounds {labels[1]} first)"
        if len(labels) == 2
        else ""
    )
    return [
        f"- Rounds: {opts.rounds} per engine{order}, every server on a fresh "
        f"database each time. Every figure in the tables is the median of the {opts.rounds} "
        "rounds for that server (errors summed; problems and notes of every round listed); "
        "the table *Server CPU per request, by round* gives each round's CPU and ratio. One "
        "round's figures vary by ±15% on this machine.",
    ]


def render(
    opts: Options,
    results: dict[str, list[ServerResult]],
    rounds: dict[str, list[list[ServerResult]]],
    command: str,
    pg_version: str | None,
    background_cores: float,
) -> str:
    size = opts.size
    labels = " vs ".join(f"{s.label} {s.version()}" for s in opts.servers)
    how = (
        "seeded with SQL straight into each server's tables (after the server created its schema)"
        if size.seed_sql
        else "loaded through the REST API by the populate scenario"
    )
    lines = [
        f"# Modelyard benchmark: {labels}",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M %Z')} with:",
        "",
        f"    {command}",
        "",
        "## Machine",
        "",
        *machine_info(pg_version, REPO),
        f"- CPU busy with other work just before the run: {background_cores:.2f} cores",
        "",
        "## Setup",
        "",
        f"- Data set: {size.models:,} models × {size.versions} versions "
        f"({size.models * size.versions:,} versions), {how}. Each model has the tag "
        "`team` (≈1,000 models per team), the alias `champion` and a version tag on its last "
        "version.",
        load_description(opts),
        f"- Servers: one at a time, {opts.workers} worker process(es) each, on a fresh "
        "database. MLflow: `mlflow server` (uvicorn) with `MLFLOW_SERVER_ENABLE_JOB_EXECUTION="
        "false` (no huey job runner) and telemetry off, default logging (it logs every "
        "request); Modelyard: `modelyard serve` (no access log).",
        *rounds_description(opts),
        *([
            "- Authentication (`--auth`): MLflow's basic-auth app (`--app-name basic-auth`, its "
            "user store on the same engine, default permission READ, its credential cache on: "
            "`auth_cache_ttl_seconds = 60`); Modelyard `serve --auth`. Populate writes as each "
            "server's administrator; the reads are an ordinary user's (may read every model), "
            "signed in with HTTP basic auth on both. See bench/auth.py.",
        ] if opts.auth else []),
        "- srv CPU ms/req: utime+stime of the server's process tree (/proc/<pid>/stat, all "
        "descendants) over the measured part, divided by the requests. RSS: VmRSS summed over "
        "the tree, sampled every 0.2 s, peak over the run. Cold start: spawn to the first 200 "
        "on `GET /health` (fresh database; for seeded data sets, the second start, with data).",
        "- Ratio = MLflow / Modelyard. Client CPU: all client processes together, per request "
        "(MLflow / Modelyard); on this machine the clients share the cores with the server.",
        "",
        "## Results",
        "",
    ]
    names = opts.scenarios
    for engine, servers in results.items():
        lines += [engine_section(engine, servers, names, rounds[engine]), ""]
    lines += ["Scenarios:", ""]
    descriptions = {s.name: s.description for s in READ_SCENARIOS}
    descriptions[POPULATE] = (
        "create model, create each version, set a model tag, set a version tag, set an alias "
        "(POST), one model per client at a time"
    )
    lines += [f"- `{n}`: {descriptions[n]}" for n in names]
    return "\n".join(lines) + "\n"


def _raise_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def round_order(servers: list[ServerKind], round_no: int) -> list[ServerKind]:
    """The order of the servers in a round: reversed every other round, so that a slow drift of
    the machine (another job starting, the CPU heating up) weighs on both sides alike."""
    return servers if round_no % 2 else servers[::-1]


def ready_pool(pool: ClientPool | None, concurrency: int) -> ClientPool:
    """The client pool for the next server: the same processes again, unless a job broke it."""
    if pool is None or pool.broken:
        if pool is not None:
            pool.close()
        pool = ClientPool(concurrency)
    return pool


def rounds_json(opts: Options, rounds: dict[str, list[list[ServerResult]]]) -> dict[str, object]:
    """Every round's raw results, per engine, with the order the servers ran in."""
    return {
        engine: [
            {
                "round": n,
                "order": [kind.key for kind in round_order(opts.servers, n)],
                "servers": [asdict(s) for s in servers],
            }
            for n, servers in enumerate(engine_rounds, 1)
        ]
        for engine, engine_rounds in rounds.items()
    }


def main(argv: Sequence[str]) -> int:
    args, opts = parse_args(argv)
    command = shlex.join(["python", "bench/run.py", *argv])
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))
    dbs = Databases(opts.pg)
    pool: ClientPool | None = None
    results: dict[str, list[ServerResult]] = {}  # per engine: one per server (the medians)
    rounds: dict[str, list[list[ServerResult]]] = {}  # per engine and round: one per server
    pg_version: str | None = None
    background = math.nan
    try:
        if "postgres" in opts.engines:
            pg_version = opts.pg.server_version()
        background = idle_check(1.0)
        log(f"machine busy before the run: {background:.2f} cores")
        if background > 0.3:
            log("warning: other processes are using the CPU; the figures will be noisy")
        for engine in opts.engines:
            rounds[engine] = []
            for n in range(1, opts.rounds + 1):
                order = round_order(opts.servers, n)
                if opts.rounds > 1:
                    labels = " then ".join(kind.label for kind in order)
                    log(f"[{engine}] round {n}/{opts.rounds}: {labels}")
                ran: dict[str, ServerResult] = {}
                for kind in order:
                    pool = ready_pool(pool, opts.concurrency)
                    ran[kind.key] = bench_server(kind, engine, opts, pool, dbs, workdir, n)
                # Kept in the order of opts.servers whichever ran first: ratio = MLflow / Modelyard.
                rounds[engine].append([ran[kind.key] for kind in opts.servers])
            results[engine] = [
                combine_rounds([servers[i] for servers in rounds[engine]])
                for i in range(len(opts.servers))
            ]
            section = engine_section(engine, results[engine], opts.scenarios, rounds[engine])
            print(f"\n{section}\n", flush=True)
    except (KeyboardInterrupt, SystemExit):
        log("interrupted: stopping the servers and dropping the databases")
        raise
    finally:
        if pool is not None:
            pool.close()
        dbs.drop_all()
        if opts.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    report = render(opts, results, rounds, command, pg_version, background)
    if args.out:
        args.out.write_text(report)
        log(f"wrote {args.out}")
    if args.json:
        raw = {engine: [asdict(s) for s in servers] for engine, servers in results.items()}
        document: dict[str, object] = {"command": command, "results": raw}
        if opts.rounds > 1:  # "results" then holds the medians; every round's are kept too
            document["rounds"] = rounds_json(opts, rounds)
        args.json.write_text(json.dumps(document, indent=2))
        log(f"wrote {args.json}")
    problems = [p for servers in results.values() for s in servers for p in s.problems]
    if problems:
        log(f"{len(problems)} problem(s); see the table")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
