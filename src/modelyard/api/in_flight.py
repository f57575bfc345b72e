"""Requests whose own cleanup must run even when the server stops: uploads.

When the server stops, uvicorn lets requests run for the graceful period (--graceful-timeout),
then cancels the ones left; but it does not wait for them, and the process ends at once, so a
cut-off upload never got to remove its temporary file or abort its multipart upload. An upload
registers its task here, and the application's shutdown (the ASGI lifespan, which uvicorn
awaits after cancelling) gives those tasks a few seconds to run their cleanup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

#: How long the shutdown waits for cut-off uploads to clean up (an S3 abort is one request).
SETTLE_TIMEOUT = 5.0


class InFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    @contextmanager
    def track(self) -> Iterator[None]:
        """Register the current task for the duration of the block."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait (at most `timeout` seconds) for the registered tasks to end."""
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
