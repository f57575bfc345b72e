"""Run a coroutine to completion from a test, whatever event loop the thread already has.

unitycatalog-client is asyncio-only; Playwright's sync API (tests/web) leaves an event loop
marked as running on the main thread for the session, where `asyncio.run` would refuse to start.
A short-lived thread has no loop of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
