"""The local-directory artifact backend: streaming writes, digests, containment, deletion."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.storage.base import CHUNK_SIZE, READ_CHUNK_SIZE, root_digest
from modelyard.storage.local import LocalArtifactStore
from tests.support.asyncio_thread import run_async


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_write_read_list_digest_delete(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "root"))
    assert store.root == (tmp_path / "root").resolve().as_uri()
    location = store.location_for("models", "m1", "versions", "v1")
    big = b"x" * (READ_CHUNK_SIZE + 17)
    stored = run_async(store.write_stream(location, "data/model.bin", _chunks(big[:10],
                                                                               big[10:])))
    assert (stored.path, stored.size, stored.sha256) == (
        "data/model.bin", len(big), hashlib.sha256(big).hexdigest())
    run_async(store.write_stream(location, "MLmodel", _chunks(b"flavors: {}\n")))

    assert [f.path for f in store.list_files(location)] == ["MLmodel", "data/model.bin"]
    digested = store.digest_files(location)
    assert digested[1].sha256 == stored.sha256
    assert b"".join(store.read_stream(location, "data/model.bin")) == big
    # Streamed in bounded chunks, never the whole file at once.
    sizes = [len(c) for c in store.read_stream(location, "data/model.bin")]
    assert len(sizes) > 1 and max(sizes) <= READ_CHUNK_SIZE
    # The root digest depends on every path, size and content.
    assert root_digest(digested) == root_digest(list(reversed(digested)))
    assert root_digest(digested) != root_digest(digested[:1])

    store.delete_location(location)
    assert store.list_files(location) == []
    store.delete_location(location)  # a missing location is not an error


def test_paths_cannot_escape_the_location(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    location = store.location_for("v1")
    for bad in ("../evil", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(InvalidArgument):
            run_async(store.write_stream(location, bad, _chunks(b"x")))
    with pytest.raises(NotFound):
        store.read_stream(location, "missing")


def test_a_failed_stream_leaves_no_partial_file(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    location = store.location_for("v1")

    async def broken() -> AsyncIterator[bytes]:
        yield b"half"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        run_async(store.write_stream(location, "model.bin", broken()))
    assert store.list_files(location) == []
    assert list((tmp_path / "v1").iterdir()) == []


def test_a_stream_of_many_small_chunks_is_written_in_order(tmp_path: Path) -> None:
    """200 chunks of 64 KiB (what an ASGI server hands over), several CHUNK_SIZEs in all: the
    file and its digest follow the order the chunks arrived in."""
    store = LocalArtifactStore(str(tmp_path))
    location = store.location_for("v1")
    parts = [index.to_bytes(4, "big") * 16384 for index in range(200)]  # 64 KiB each
    stored = run_async(store.write_stream(location, "model.bin", _chunks(*parts)))
    content = b"".join(parts)
    assert (stored.size, stored.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert b"".join(store.read_stream(location, "model.bin")) == content


def test_a_stream_broken_after_several_mib_leaves_no_file(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    location = store.location_for("v1")

    async def broken() -> AsyncIterator[bytes]:
        for _ in range(5 * 16):
            yield b"\x01" * (CHUNK_SIZE // 4)
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        run_async(store.write_stream(location, "data/model.bin", broken()))
    assert list((tmp_path / "v1").iterdir()) == []
