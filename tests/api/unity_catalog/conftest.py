"""Unity Catalog test helpers: a fresh schema per test, and the governed files on disk."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pytest

from tests.support import http_clients
from tests.support.server import ServerProcess

UC = "/api/2.1/unity-catalog"


def local_path(location: str) -> Path:
    """The directory of a `file://` storage location."""
    parsed = urlparse(location)
    assert parsed.scheme == "file", location
    return Path(unquote(parsed.path))


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture()
def uc(server: ServerProcess) -> Iterator[httpx.Client]:
    """Raw HTTP on the UC REST API of the session server."""
    with http_clients.Client(base_url=server.url + UC, timeout=30) as client:
        yield client


@pytest.fixture()
def schema(uc: httpx.Client) -> Iterator[str]:
    """A fresh schema `main.<random>`; dropped (with force) afterwards."""
    name = f"s_{uuid.uuid4().hex[:10]}"
    response = uc.post("/schemas", json={"catalog_name": "main", "name": name})
    assert response.status_code == 200, response.text
    yield f"main.{name}"
    uc.delete(f"/schemas/main.{name}", params={"force": "true"})
