"""The ArtifactStore contract, the same tests for the local directory and S3 (SeaweedFS)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.storage.base import ArtifactStore, root_digest
from modelyard.storage.factory import open_store
from tests.storage.conftest import Backend
from tests.support.asyncio_thread import run_async


def _store(backend: Backend) -> ArtifactStore:
    return open_store(backend.root)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _write(store: ArtifactStore, location: str, path: str, *parts: bytes) -> None:
    async def run() -> None:
        await store.write_stream(location, path, _chunks(*parts))

    run_async(run())


def test_write_list_read_digest_delete(backend_env: Backend) -> None:
    store = _store(backend_env)
    location = store.location_for("tests", uuid.uuid4().hex)
    big = os.urandom(9 * 1024 * 1024 + 123)  # more than one multipart part on S3

    async def run() -> None:
        stored = await store.write_stream(location, "data/big.bin",
                                          _chunks(big[:5_000_000], big[5_000_000:]))
        assert stored.size == len(big)
        assert stored.sha256 == hashlib.sha256(big).hexdigest()
        await store.write_stream(location, "MLmodel", _chunks(b"flavors: {}\n"))

    run_async(run())
    assert [(f.path, f.size) for f in store.list_files(location)] == [
        ("MLmodel", 12), ("data/big.bin", len(big))]
    assert b"".join(store.read_stream(location, "data/big.bin")) == big
    digests = store.digest_files(location)
    assert digests[1].sha256 == hashlib.sha256(big).hexdigest()
    assert len(root_digest(digests)) == 64

    store.delete_location(location)
    assert store.list_files(location) == []
    store.delete_location(location)  # a missing location is not an error
    with pytest.raises(NotFound):
        list(store.read_stream(location, "MLmodel"))


def test_overwrite_replaces_the_file(backend_env: Backend) -> None:
    store = _store(backend_env)
    location = store.location_for("tests", uuid.uuid4().hex)
    _write(store, location, "a.txt", b"first")
    _write(store, location, "a.txt", b"second")
    assert b"".join(store.read_stream(location, "a.txt")) == b"second"
    store.delete_location(location)


@pytest.mark.parametrize("path", ["../escape", "/abs", "a/../../b", ""])
def test_paths_cannot_escape_the_location(backend_env: Backend, path: str) -> None:
    store = _store(backend_env)
    location = store.location_for("tests", uuid.uuid4().hex)
    with pytest.raises(InvalidArgument):
        _write(store, location, path, b"x")


def test_a_broken_stream_leaves_no_file(backend_env: Backend) -> None:
    store = _store(backend_env)
    location = store.location_for("tests", uuid.uuid4().hex)

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(9 * 1024 * 1024)  # S3: one part already uploaded
        raise ConnectionError("client went away")

    async def run() -> None:
        await store.write_stream(location, "model.bin", broken())

    with pytest.raises(ConnectionError):
        run_async(run())
    assert store.list_files(location) == []
    if backend_env.s3 is not None:  # nor a dangling multipart upload
        client = backend_env.s3.client()
        uploads = client.list_multipart_uploads(  # type: ignore[attr-defined]
            Bucket=backend_env.bucket, Prefix=location.split("/", 3)[3])
        assert uploads.get("Uploads", []) == []
