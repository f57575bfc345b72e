"""Prometheus metrics (prometheus-client), safe with several worker processes.

With `serve --workers N` the CLI points PROMETHEUS_MULTIPROC_DIR at an empty folder before the
workers start: every worker then keeps its values in memory-mapped files there, and whichever
worker answers `/metrics` adds up all of them (prometheus-client's multiprocess mode). That
variable must be set before this module is imported, which the CLI's order of imports ensures.

Per request the server pays one dictionary look-up for the (route, method, status) children,
a counter increment, a histogram observation and the in-flight gauge's two updates: a few
microseconds (README, "Metrics"). Facts of the database (the webhook outbox's depth and age)
are read when scraped, not kept up to date by every write.
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: A point read takes ~0.2 ms; a 1 GiB upload minutes.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0, 30.0, 120.0)
_QUERY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                  0.25, 1.0, 5.0)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)

if os.environ.get(MULTIPROC_ENV):
    # The metrics below open their files there as they are made: a folder the operator named
    # but did not create must not stop the server.
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)

REQUESTS = Counter("modelyard_http_requests", "HTTP requests answered, by route template "
                   "(unmatched: no route), method and status.", ["route", "method", "status"])
REQUEST_DURATION = Histogram("modelyard_http_request_duration_seconds",
                             "Time from a request's arrival to its response's last byte "
                             "handed to the server, by route template and method.",
                             ["route", "method"], buckets=_LATENCY_BUCKETS)
IN_FLIGHT = Gauge("modelyard_http_requests_in_flight", "Requests being answered now.",
                  multiprocess_mode="livesum")
DB_QUERY_DURATION = Histogram("modelyard_db_query_duration_seconds",
                              "Statements run through SQLAlchemy (writes, searches, listings; "
                              "the precompiled point reads are counted only in the request "
                              "latency).", buckets=_QUERY_BUCKETS)
DB_POOL_SIZE = Gauge("modelyard_db_pool_capacity_connections",
                     "Connections the database pools may open (all worker processes).",
                     multiprocess_mode="livesum")
DB_POOL_CHECKED_OUT = Gauge("modelyard_db_pool_checked_out_connections",
                            "Pooled database connections in use now.",
                            multiprocess_mode="livesum")
DB_CONNECTIONS_OPENED = Counter("modelyard_db_connections_opened",
                                "Database connections opened by the pools.")
WEBHOOK_DELIVERIES = Counter("modelyard_webhook_deliveries",
                             "Webhook delivery attempts by outcome (delivered, retry: will be "
                             "tried again, failed: given up).", ["outcome"])
WEBHOOK_DELIVERY_LAG = Histogram("modelyard_webhook_delivery_lag_seconds",
                                 "From a change's commit to its webhook delivery's success.",
                                 buckets=_LAG_BUCKETS)
SWEEPER_RUNS = Counter("modelyard_sweeper_runs", "Runs of the background sweepers "
                       "(uc_pending: abandoned UC versions and storage garbage; table_upkeep: "
                       "PostgreSQL ANALYZE/VACUUM), by outcome.", ["sweeper", "outcome"])
UPLOAD_BYTES = Counter("modelyard_upload_bytes", "Bytes of model files received, by way in "
                       "(signed_url: Databricks' Files API URLs; copy: server-side "
                       "promotion copies).", ["via"])

#: Methods get their own label value; anything else is "other", so that a client cannot grow
#: the series without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(path: str) -> None:
    """Empty the metrics folder `path` of values left by an earlier run (they would be added
    in), but for this process's own files: when the variable was set before this process
    imported prometheus-client, its metrics live there already."""
    os.makedirs(path, exist_ok=True)
    own = f"_{os.getpid()}.db"
    for name in os.listdir(path):
        if name.endswith(".db") and not name.endswith(own):
            os.remove(os.path.join(path, name))


def worker_exited(pid: int) -> None:
    """Drop a dead worker's in-flight and pool gauges (its counters stay in the totals)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


class RequestMetrics:
    """Counts and times requests, on the event loop's thread.

    prometheus-client takes a lock for every value it updates (and writes a memory-mapped file
    in multiprocess mode): a request's counter, histogram and in-flight updates cost 5-10 us
    on this machine, as much as a tenth of a point read. So requests are added up here in plain
    Python, which only the event loop's thread touches (no lock needed), and the sums are handed
    to prometheus-client's metrics in one batch at most `flush_interval` seconds after a request,
    and before each scrape: a scrape shows every request its own worker answered, and the other
    workers' as of at most `flush_interval` seconds ago.
    """

    def __init__(self, flush_interval: float = 1.0) -> None:
        self._interval = flush_interval
        self._counts: dict[tuple[str, str, int], int] = {}
        #: (route, method) -> [sum of seconds, then one count per bucket, +Inf last].
        self._timings: dict[tuple[str, str], list[float]] = {}
        self._pending = False
        self.in_flight = 0

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, route: str, method: str, status: int, seconds: float) -> None:
        self.in_flight -= 1
        key = (route, method, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        timing = self._timings.get((route, method))
        if timing is None:
            timing = self._timings[(route, method)] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        timing[0] += seconds
        timing[1 + bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        """Add what was counted since the last flush to prometheus-client's metrics (on the
        event loop's thread)."""
        self._pending = False
        counts, self._counts = self._counts, {}
        timings, self._timings = self._timings, {}
        for (route, method, status), count in counts.items():
            REQUESTS.labels(route, _method_label(method), str(status)).inc(count)
        for (route, method), timing in timings.items():
            child = REQUEST_DURATION.labels(route, _method_label(method))
            # The histogram child's own values (prometheus-client has no call that adds
            # several observations at once); bucket i counts the observations <= bound i.
            child._sum.inc(timing[0])
            for bucket, observed in zip(child._buckets, timing[1:], strict=True):
                if observed:
                    bucket.inc(observed)
        IN_FLIGHT.set(self.in_flight)


def _method_label(method: str) -> str:
    return method if method in _METHODS else "other"


class Exposition:
    """What `/metrics` answers: this process's metrics, or every worker's in multiprocess mode,
    and the gauges read at scrape time from `scraped()`."""

    def __init__(self, scraped: Callable[[], Iterable[Metric]]) -> None:
        self._scraped = scraped
        if multiprocess_dir():
            self._registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self._registry)
        else:
            self._registry = REGISTRY

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
        yield from self._scraped()

    def render(self) -> bytes:
        return generate_latest(self)


def outbox_gauges(depth: int, oldest_created_ms: int | None) -> list[Metric]:
    """The webhook outbox's state as gauges: how many deliveries wait, and for how long the
    oldest has (0 when none)."""
    waiting = GaugeMetricFamily("modelyard_webhook_outbox_depth",
                                "Webhook deliveries waiting in the outbox (all replicas).")
    waiting.add_metric([], depth)
    age = GaugeMetricFamily("modelyard_webhook_outbox_oldest_age_seconds",
                            "Age of the oldest undelivered webhook delivery (0: none).")
    age.add_metric([], 0.0 if oldest_created_ms is None
                   else max(0.0, time.time() - oldest_created_ms / 1000))
    return [waiting, age]


def scrape_failed(what: str) -> list[Metric]:
    """A gauge saying a scrape-time read failed (the database is down, say)."""
    failed = GaugeMetricFamily("modelyard_scrape_error", "1 when a scrape-time read failed.",
                               labels=["what"])
    failed.add_metric([what], 1)
    return [failed]


def instrument_engine(engine: Any) -> None:
    """Time an SQLAlchemy engine's statements and follow its pool."""
    from sqlalchemy import event

    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if callable(size):
        DB_POOL_SIZE.set(size() + max(overflow, 0))

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any,
                executemany: bool) -> None:
        conn.info["modelyard_query_start"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any,
               executemany: bool) -> None:
        started = conn.info.pop("modelyard_query_start", None)
        if started is not None:
            DB_QUERY_DURATION.observe(time.perf_counter() - started)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        DB_CONNECTIONS_OPENED.inc()

    # A connection counts from its checkout to its checkin, or its detach (the point reads'
    # own connections leave the pool for good); one checked out before these listeners were
    # added is not counted when it comes back.
    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.info["modelyard_counted"] = True
        DB_POOL_CHECKED_OUT.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop("modelyard_counted", False):
            DB_POOL_CHECKED_OUT.dec()

    @event.listens_for(engine, "detach")
    def _detach(dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop("modelyard_counted", False):
            DB_POOL_CHECKED_OUT.dec()
