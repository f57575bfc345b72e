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
    """Remove every queued location; safe to run anywhere, any time, in many processes.

    A location that cannot be removed is logged and left queued for a later sweep; the others
    are still removed (one bad location must not hold up the rest). Every location queued
    before the call is attempted before it returns.
    """
    removed, after = 0, ""
    while True:
        with database.read() as conn:
            batch = CatalogRepository(conn).garbage_batch(_BATCH, after)
        if not batch:
            return removed
        done = []
        for location in batch:
            try:
                store.delete_location(location)
            except Exception as error:  # any backend failure: retry later
                # The location and the error's text only: no request, headers or credentials.
                log.warning("could not remove %s (%s: %s); it stays queued for the next "
                            "sweep", location, type(error).__name__, error)
            else:
                done.append(location)
        if done:
            with database.write() as conn:
                CatalogRepository(conn).remove_garbage(done)
        removed += len(done)
        after = batch[-1]
