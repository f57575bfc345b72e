"""Server settings (config.py): sizes written the way people write them."""

from __future__ import annotations

import pytest

from modelyard.config import Settings, parse_size


@pytest.mark.parametrize(("text", "size"), [
    ("1048576", 1048576), ("512KiB", 512 * 1024), ("1MiB", 1024 * 1024), ("1 MiB", 1024**2),
    ("10MB", 10_000_000), ("2gib", 2 * 1024**3), ("64k", 64_000), ("100b", 100),
])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "1.5MiB", "-1", "1 TB", "²", "12 parsecs"])
def test_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_limits_travel_to_worker_processes_through_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(max_body_size=4096, header_timeout=2.5, body_timeout=7.0,
                        keep_alive_timeout=3.0, max_connections=64)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    again = Settings.from_env()
    assert (again.max_body_size, again.header_timeout, again.body_timeout,
            again.keep_alive_timeout, again.max_connections) == (4096, 2.5, 7.0, 3.0, 64)
