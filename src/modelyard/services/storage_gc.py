"""Removing the files of deleted and failed versions, and what interrupted uploads left, crash-
safely.

The transaction that deletes (or fails) a version queues its storage location in
`storage_garbage`; this runs after commit and again from the periodic sweep, so a crash between
the commit and the removal leaves the location queued, never orphaned.

An upload that fails in the process removes its own staging (a temporary file, a multipart
upload); one cut off by a kill, a crash or an outage of the object store cannot. The upload
sweeper removes those once nothing has been written to them for `max_age` seconds, whatever
became of their version: it looks only at the staging areas below the storage roots (the
managed root and each catalog's or schema's own), never at the versions' files.
"""

from __future__ import annotations

import logging
import threading
import time

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


def remove_stale_uploads(database: Database, store: ArtifactStore, max_age: float) -> int:
    """One pass of the upload sweeper; how many leftovers it removed."""
    with database.read() as conn:
        roots = [store.root, *CatalogRepository(conn).storage_roots()]
    removed = store.remove_stale_uploads(roots, time.time() - max_age)
    if removed:
        log.info("removed %d upload(s) left unfinished for over %g s", removed, max_age)
    return removed


def start_upload_sweeper(database: Database, store: ArtifactStore, interval: float,
                         max_age: float) -> threading.Event:
    """Run `remove_stale_uploads` now and every `interval` seconds in a daemon thread; set the
    returned event to stop it. Every replica may run one: removing twice is harmless."""
    stop = threading.Event()

    def loop() -> None:
        failing = False
        while True:
            try:
                remove_stale_uploads(database, store, max_age)
                failing = False
            except Exception as error:  # the store is down, say: try again next time
                if not failing:  # once per run of failures, not every interval
                    log.warning("upload sweep failed (%s: %s); retrying every %g s",
                                type(error).__name__, error, interval)
                failing = True
            if stop.wait(interval):
                return

    threading.Thread(target=loop, name="modelyard-upload-sweeper", daemon=True).start()
    return stop
