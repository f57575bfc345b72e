"""Periodic upkeep of the database that no request should wait for."""

from __future__ import annotations

import logging
import threading

from modelyard.store.database import Database
from modelyard.store.statistics import analyze_stale_tables

log = logging.getLogger("modelyard.maintenance")

#: How often the statistics are checked: one query on pg_stat_user_tables when nothing changed.
STATISTICS_INTERVAL = 10.0


def refresh_statistics(database: Database) -> list[str]:
    """Analyze the tables whose planner statistics are stale (PostgreSQL); their names."""
    if database.dialect != "postgresql":
        return []  # SQLite's planner does without; see store/statistics.py
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        analyzed = analyze_stale_tables(conn)
    if analyzed:
        log.info("analyzed %s", ", ".join(analyzed))
    return analyzed


def start_statistics_upkeep(database: Database,
                            interval: float = STATISTICS_INTERVAL) -> threading.Event:
    """Run `refresh_statistics` now and every `interval` seconds in a daemon thread; set the
    returned event to stop it. Every replica may run one: a second ANALYZE only costs time."""
    stop = threading.Event()

    def loop() -> None:
        failing = False
        while True:
            try:
                refresh_statistics(database)
                failing = False
            except Exception:
                # Not the tables' owner, say: requests are unaffected, only their plans. Logged
                # once per run of failures, not every interval.
                if not failing:
                    log.exception("refreshing the planner statistics failed")
                failing = True
            if stop.wait(interval):
                return

    threading.Thread(target=loop, name="modelyard-statistics", daemon=True).start()
    return stop
