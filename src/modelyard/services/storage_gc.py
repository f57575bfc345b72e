"""Removing the files of deleted and failed versions, crash-safely.

The transaction that deletes (or fails) a version queues its storage location in
`storage_garbage`; this runs after commit and again from the periodic sweep, so a crash between
the commit and the removal leaves the location queued, never orphaned.
"""

from __future__ import annotations

import logging

from modelyard.storage.base import ArtifactStore
from modelyard.store.catalog import CatalogRepository
from modelyard.store.database import Database

log = logging.getLogger("modelyard.storage")

_BATCH = 100


def collect_garbage(database: Database, store: ArtifactStore) -> int:
    """Remove every queued location; safe to run anywhere, any time, in many processes."""
    removed = 0
    while True:
        with database.read() as conn:
            batch = CatalogRepository(conn).garbage_batch(_BATCH)
        if not batch:
            return removed
        for location in batch:
            try:
                store.delete_location(location)
            except Exception:  # a backend hiccup: leave it queued for the next sweep
                log.exception("could not remove %s; will retry", location)
                return removed
        with database.write() as conn:
            CatalogRepository(conn).remove_garbage(batch)
        removed += len(batch)
