"""Databases for the servers under test: fresh ones per run, dropped afterwards, and the SQL
seeding of the large data set.

Both seeders write the data set of `workload.Dataset` (the rows the populate scenario would
create through the API) straight into the server's tables, after the server has created its
schema. They stream rows: COPY on PostgreSQL, one executemany transaction on SQLite.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from workload import ALIAS, TEAM_KEY, VERSION_TAG, Dataset

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class PgConfig:
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK:
            raise ValueError("the benchmark only talks to a PostgreSQL server on this machine")

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=dbname, autocommit=True
        )

    def backend_pids(self, dbname: str) -> list[int]:
        """Process ids of the PostgreSQL backends connected to `dbname`."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def cancel_queries(self, dbname: str) -> None:
        """Cancel the statements running in `dbname` (a server stuck in a slow search)."""
        with self.connect() as conn:
            conn.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()",
                (dbname,),
            )

    def server_version(self) -> str:
        with self.connect() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


@dataclass
class Databases:
    """Creates a fresh database per server and engine; `drop_all` removes what it created."""

    pg: PgConfig
    created: list[str] = field(default_factory=list)

    def create(self, engine: str, server_key: str, data_dir: Path) -> str:
        if engine == "sqlite":
            return f"sqlite:///{(data_dir / f'{server_key}.db').resolve()}"
        dbname = f"bench_{server_key}_{secrets.token_hex(4)}"
        with self.pg.connect() as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        self.created.append(dbname)
        return self.pg.url(dbname)

    def drop(self, url: str) -> None:
        dbname = make_url(url).database
        if dbname not in self.created:
            return
        with self.pg.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        self.created.remove(dbname)

    def drop_all(self) -> None:
        for dbname in list(self.created):
            try:
                self.drop(self.pg.url(dbname))
            except psycopg.Error as exc:
                print(f"warning: could not drop database {dbname}: {exc}")


class SqlWriter(AbstractContextManager["SqlWriter"]):
    """Bulk inserts into a SQLite file or a PostgreSQL database given by a SQLAlchemy URL."""

    def __init__(self, db_url: str) -> None:
        url = make_url(db_url)
        self.backend = url.get_backend_name()
        self.rows_written = 0
        if self.backend == "sqlite":
            self._sqlite = sqlite3.connect(str(url.database), isolation_level=None)
            self._sqlite.execute("PRAGMA foreign_keys=OFF")
            self._sqlite.execute("BEGIN")
        elif self.backend == "postgresql":
            host = url.host or "127.0.0.1"
            if host not in LOOPBACK:
                raise ValueError("the benchmark only talks to a PostgreSQL server on this machine")
            self._pg = psycopg.connect(
                host=host, port=url.port or 5432, user=url.username, dbname=url.database
            )
        else:
            raise ValueError(f"cannot seed {self.backend}")

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
        cols = ", ".join(f'"{c}"' for c in columns)
        if self.backend == "sqlite":
            marks = ", ".join("?" for _ in columns)
            cursor = self._sqlite.executemany(
                f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows
            )
            self.rows_written += cursor.rowcount
            return
        with self._pg.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                self.rows_written += 1

    def execute(self, sql: str) -> None:
        if self.backend == "sqlite":
            self._sqlite.execute(sql)
        else:
            self._pg.execute(sql)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.backend == "sqlite":
            self._sqlite.execute("COMMIT" if exc is None else "ROLLBACK")
            if exc is None:
                self._sqlite.execute("ANALYZE")
            self._sqlite.close()
        else:
            if exc is None:
                self._pg.commit()
                self._pg.autocommit = True
                # The state a registry that has run a while is in: analyzed, and vacuumed (all
                # pages visible), whether by autovacuum or, where that is off (as on this
                # project's machines), by Modelyard's own table upkeep, which would otherwise do
                # it during the first scenario. Both servers' databases get the same.
                self._pg.execute("VACUUM ANALYZE")
            else:
                self._pg.rollback()
            self._pg.close()


@dataclass(frozen=True)
class SeedReport:
    rows: int
    seconds: float


def _timestamps(dataset: Dataset) -> Iterator[tuple[int, int]]:
    """(model index, creation time in ms) for every model, one millisecond apart per write."""
    base = int(time.time() * 1000) - dataset.models * (dataset.versions + 4)
    for i in range(dataset.models):
        yield i, base + i * (dataset.versions + 4)


def seed_mlflow(db_url: str, n_models: int, n_versions: int) -> SeedReport:
    """Write the data set into MLflow 3.17.2's registry tables (schema created by the server)."""
    dataset = Dataset(n_models, n_versions)
    ws = "default"
    started = time.perf_counter()
    with SqlWriter(db_url) as db:
        db.insert(
            "registered_models",
            ("name", "creation_time", "last_updated_time", "description", "workspace"),
            (
                (m.name, t, t + n_versions + 3, m.description, ws)
                for m, t in ((dataset.model(i), t) for i, t in _timestamps(dataset))
            ),
        )
        db.insert(
            "model_versions",
            (
                "name", "version", "creation_time", "last_updated_time", "description",
                "user_id", "current_stage", "source", "run_id", "status", "status_message",
                "run_link", "storage_location", "workspace",
            ),
            (
                (m.name, v.version, t + v.version, t + v.version, v.description, None, "None",
                 v.source, v.run_id, "READY", None, "", v.source, ws)
                for m, t in ((dataset.model(i), t) for i, t in _timestamps(dataset))
                for v in m.versions
            ),
        )  # fmt: skip
        db.insert(
            "registered_model_tags",
            ("key", "value", "name", "workspace"),
            ((TEAM_KEY, dataset.team(i), dataset.name(i), ws) for i in range(n_models)),
        )
        db.insert(
            "model_version_tags",
            ("key", "value", "name", "version", "workspace"),
            ((*VERSION_TAG, dataset.name(i), n_versions, ws) for i in range(n_models)),
        )
        db.insert(
            "registered_model_aliases",
            ("alias", "version", "name", "workspace"),
            ((ALIAS, n_versions, dataset.name(i), ws) for i in range(n_models)),
        )
        rows = db.rows_written
    return SeedReport(rows, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------
# seed_modelyard: matches src/modelyard/store/tables.py as of migrations 0001_registry_core,
# 0003_performance (indexes only), 0005_tag_search (the tags' value_head and model_name; the
# 0002_* revisions add columns that stay NULL for workspace models) and 0007_model_summary
# (computed at the end by Modelyard's own expression). Adjust the column lists here when the
# schema changes.
# ---------------------------------------------------------------------------------------------
def _summary_update(backend: str) -> str:
    """Modelyard's `model_summary.refresh_all` as SQL text for `backend`."""
    from modelyard.store import model_summary
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql.dialect() if backend == "postgresql" else sqlite.dialect()
    return str(model_summary.refresh_all_statement(dialect.name).compile(dialect=dialect))


def seed_modelyard(db_url: str, n_models: int, n_versions: int) -> SeedReport:
    """Write the data set into Modelyard's tables (schema created by `modelyard serve`).

    Ids are assigned here (model i -> id i+1, its version v -> id i*V+v); on PostgreSQL the
    id sequences are moved past them so that later inserts through the API do not collide.
    """
    dataset = Dataset(n_models, n_versions)
    registry = "workspace"
    started = time.perf_counter()
    with SqlWriter(db_url) as db:
        db.insert(
            "registered_models",
            ("id", "registry", "name", "description", "user_id", "created_at", "updated_at",
             "last_version"),
            (
                (i + 1, registry, m.name, m.description, "", t, t + n_versions + 3, n_versions)
                for m, i, t in ((dataset.model(i), i, t) for i, t in _timestamps(dataset))
            ),
        )  # fmt: skip
        db.insert(
            "model_versions",
            ("id", "model_id", "version", "source", "run_id", "run_link", "logged_model_id",
             "description", "stage", "status", "status_message", "user_id", "created_at",
             "updated_at"),
            (
                (i * n_versions + v.version, i + 1, v.version, v.source, v.run_id, "", "",
                 v.description, "None", "READY", "", "", t + v.version, t + v.version)
                for m, i, t in ((dataset.model(i), i, t) for i, t in _timestamps(dataset))
                for v in m.versions
            ),
        )  # fmt: skip
        db.insert(
            "registered_model_tags",
            # value_head: the value's first 64 characters; model_name: the model's name.
            ("model_id", "key", "value", "value_head", "model_name"),
            ((i + 1, TEAM_KEY, dataset.team(i), dataset.team(i)[:64], dataset.name(i))
             for i in range(n_models)),
        )
        db.insert(
            "model_version_tags",
            ("version_id", "key", "value", "value_head"),
            (((i + 1) * n_versions, *VERSION_TAG, VERSION_TAG[1][:64]) for i in range(n_models)),
        )
        db.insert(
            "registered_model_aliases",
            ("model_id", "alias", "version"),
            ((i + 1, ALIAS, n_versions) for i in range(n_models)),
        )
        # Each model's summary (tags, aliases, latest versions), as the API would have kept it:
        # the UPDATE Modelyard's migration runs on an existing database.
        db.execute(_summary_update(db.backend))
        if db.backend == "postgresql":
            for table in ("registered_models", "model_versions"):
                db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        rows = db.rows_written
    return SeedReport(rows, time.perf_counter() - started)
