"""What operators ask of a running server: is it ready to serve, and the database's side of the
metrics (the webhook outbox).

Ready means: the database answers, its schema is at the revisions this server was built for
(another replica of a newer release may have moved it on), and the artifact store answers. Each
check says what is wrong in a few words; the details (which may name hosts) go to the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
        return frozenset(migrate.probe_heads(self._database))

    def outbox_state(self) -> tuple[int, int | None]:
        """(deliveries waiting in the webhook outbox, creation time in ms of the oldest)."""
        with self._database.read() as conn:
            return WebhookRepository(conn).outbox_state()
