"""One server per engine for this package's tests: two workers, JSON logs, a metrics token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import database_url_for
from tests.support.server import ServerProcess

METRICS_TOKEN = "scrape-secret-for-tests"


@pytest.fixture(scope="package")
def observed_server(engine: str, pg_available: bool,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`serve --workers 2 --log-format json` with MODELYARD_METRICS_TOKEN set."""
    for url in database_url_for(engine, pg_available):
        server = ServerProcess(tmp_path_factory.mktemp(f"observed-{engine}"), url, workers=2,
                               extra_args=["--log-format", "json"],
                               env={"MODELYARD_METRICS_TOKEN": METRICS_TOKEN}).start()
        try:
            yield server
        finally:
            server.stop()
