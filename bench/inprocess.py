"""Server CPU of writes and of a version search through the services, in process (no HTTP).

    .venv/bin/python bench/inprocess.py sqlite|postgres     # MODELS=150 by default
    PROF=tottime .venv/bin/python bench/inprocess.py sqlite   # with cProfile (CPU time)

Builds Modelyard's services on a fresh database (a temporary SQLite file, or a new PostgreSQL
database at 127.0.0.1:5432, dropped afterwards), then: populate (per model: create it, 10
versions, a model tag, a version tag, the alias), three rounds of alias moves, and version
searches by name. Prints the process's CPU (time.process_time) per call: the server's own share,
without PostgreSQL's backends. To compare two checkouts, run it with PYTHONPATH=<checkout>/src.

    IDLE_MS=0.5 .venv/bin/python bench/inprocess.py sqlite   # sleep 0.5 ms before each call

IDLE_MS shows what a server's idle gaps between requests cost the same calls: a sleeping
process uses no CPU, but the calls after it run on cold CPU caches (see bench/RESULTS.md,
issue 21: the same write cost 0.21 ms of CPU back to back and 0.37 ms with 0.5 ms gaps).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from modelyard.bootstrap import build
from modelyard.config import Settings
from modelyard.domain.actor import LOCAL_ADMIN as ADMIN
from modelyard.store.database import Database, sqlite_url_for
from modelyard.store.migrate import upgrade


class _Idling:
    """The service with a sleep before each call (time asleep costs no CPU)."""

    def __init__(self, target: Any, seconds: float) -> None:
        self._target, self._seconds = target, seconds

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self._seconds)
            return method(*args, **kwargs)
        return call


def main() -> None:
    engine = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    models = int(os.environ.get("MODELS", "150"))
    directory = Path(tempfile.mkdtemp(prefix="modelyard-inprocess-"))
    url, name = None, f"modelyard_inprocess_{os.getpid()}"
    if engine == "postgres":
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    database = Database(url or sqlite_url_for(directory))
    upgrade(database)
    registry: Any = build(Settings(data_dir=directory), database).registry
    idle = float(os.environ.get("IDLE_MS", "0")) / 1000
    if idle:
        registry = _Idling(registry, idle)

    def populate(prefix: str, count: int) -> int:
        writes = 0
        for i in range(count):
            model = f"{prefix}{i:05d}"
            registry.create_registered_model(ADMIN, model, tags=None, description="d")
            for v in range(10):
                registry.create_model_version(ADMIN, model, f"s3://b/{model}/{v}",
                                              run_id="r" * 32)
            registry.set_registered_model_tag(ADMIN, model, "team", "team-001")
            registry.set_model_version_tag(ADMIN, model, 10, "validated", "true")
            registry.set_registered_model_alias(ADMIN, model, "champion", 10)
            writes += 14
        return writes

    def moves(prefix: str, count: int) -> int:
        for r in range(3):
            for i in range(count):
                registry.set_registered_model_alias(ADMIN, f"{prefix}{i:05d}", "champion",
                                                    1 + (i + r) % 10)
        return 3 * count

    def searches(prefix: str, count: int) -> int:
        for i in range(2000):
            registry.search_model_versions(ADMIN, f"name='{prefix}{i % count:05d}'")
        return 2000

    populate("warm", 10)
    sort = os.environ.get("PROF")
    profile = cProfile.Profile(time.process_time) if sort else None
    for label, run in (("populate", lambda: populate("m", models)),
                       ("alias moves", lambda: moves("m", models)),
                       ("search_versions_by_name", lambda: searches("m", models))):
        if profile:
            profile.enable()
        started = time.process_time()
        calls = run()
        spent = time.process_time() - started
        if profile:
            profile.disable()
        print(f"{label}: {calls} calls, {1000 * spent / calls:.3f} ms CPU per call")
    if profile and sort:
        pstats.Stats(profile).sort_stats(sort).print_stats(40)
    database.dispose()
    if engine == "postgres":
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
