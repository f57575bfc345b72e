"""What operators ask of a running server: is it ready to serve, and the database's side of the
metrics (the webhook outbox).

Ready means: the database answers, its schema is at the revisions this server was built for
(another replica of a newer release may have moved it on), and the artifact store answers. Each
check says what is wrong in a few words; the details (which may name hosts) go to the log.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from modelyard.storage.base import ArtifactStore
from modelyard.store import migrate
from modelyard.store.database import Database
from modelyard.store.webhooks import WebhookRepository

log = logging.getLogger("modelyard.operations")

OK = "ok"


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(outcome == OK for outcome in self.checks.values())


class OperationsService:
    def __init__(self, database: Database, store: ArtifactStore) -> None:
        self._database = database
        self._store = store
        self._heads = frozenset(migrate.script_heads())
        url = make_url(database.url)
        #: The SQLite file, opened afresh by each check: the pooled connections keep a file
        #: that was deleted or unmounted readable, and would say all is well.
        self._sqlite_file = (url.database if database.is_sqlite
                             and url.database not in (None, "", ":memory:") else None)

    def readiness(self) -> Readiness:
        checks = {"database": OK, "migrations": OK, "storage": OK}
        try:
            heads = self._schema_heads()
        except Exception as error:
            log.warning("readiness: the database does not answer: %s", error)
            checks["database"] = f"unreachable ({type(error).__name__})"
            checks["migrations"] = "unknown (no database)"
        else:
            if heads != self._heads:
                checks["migrations"] = (f"the database is at {sorted(heads) or 'no revision'}, "
                                        f"this server expects {sorted(self._heads)}")
        try:
            self._store.check_reachable()
        except Exception as error:
            log.warning("readiness: the artifact store does not answer: %s", error)
            checks["storage"] = f"unreachable ({type(error).__name__})"
        return Readiness(checks)

    def _schema_heads(self) -> frozenset[str]:
        if self._sqlite_file is not None:
            connection = sqlite3.connect(f"{Path(self._sqlite_file).as_uri()}?mode=rw", uri=True,
                                         timeout=2.0)
            try:
                rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
            finally:
                connection.close()
            return frozenset(row[0] for row in rows)
        with self._database.engine.connect() as conn:
            return frozenset(migrate.current_heads(conn))

    def outbox_state(self) -> tuple[int, int | None]:
        """(deliveries waiting in the webhook outbox, creation time in ms of the oldest)."""
        with self._database.read() as conn:
            return WebhookRepository(conn).outbox_state()
