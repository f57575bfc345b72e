"""Periodic upkeep of the database that no request should wait for."""

from __future__ import annotations

import logging
import threading

from modelyard.domain.errors import Unavailable
from modelyard.observability import metrics
from modelyard.store.database import Database
from modelyard.store.failures import translated
from modelyard.store.table_upkeep import tend_tables

log = logging.getLogger("modelyard.maintenance")

#: How often the tables are looked at: one query on pg_stat_user_tables when nothing is due.
UPKEEP_INTERVAL = 10.0


def tend_database(database: Database) -> list[str]:
    """The ANALYZE and VACUUM due on the registry's tables (PostgreSQL; store/table_upkeep.py),
    run now; the commands run."""
    if database.dialect != "postgresql":
        return []  # SQLite plans without statistics and reuses freed pages itself
    with translated, database.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT") as conn:
        done = tend_tables(conn)
    for command in done:
        log.info("table upkeep: %s", command)
    return done


def start_table_upkeep(database: Database,
                       interval: float = UPKEEP_INTERVAL) -> threading.Event:
    """Run `tend_database` now and every `interval` seconds in a daemon thread; set the
    returned event to stop it. Every replica may run one (SKIP_LOCKED: never twice at once)."""
    stop = threading.Event()

    def loop() -> None:
        failing = False
        while True:
            try:
                tend_database(database)
                failing = False
                metrics.SWEEPER_RUNS.labels("table_upkeep", "ok").inc()
            except Unavailable as error:  # an outage: one line, the next round retries
                metrics.SWEEPER_RUNS.labels("table_upkeep", "failed").inc()
                log.warning("table upkeep skipped: %s", error.message)
            except Exception:
                metrics.SWEEPER_RUNS.labels("table_upkeep", "failed").inc()
                # Not the tables' owner, say: requests are unaffected, only their plans. Logged
                # once per run of failures, not every interval.
                if not failing:
                    log.exception("table upkeep failed")
                failing = True
            if stop.wait(interval):
                return

    threading.Thread(target=loop, name="modelyard-table-upkeep", daemon=True).start()
    return stop
