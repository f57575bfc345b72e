"""The model scan reads files through the store (open_seekable) on both backends: a PyTorch
checkpoint's pickle is found through the zip's directory without reading its storages, a
plain pickle is read once (services/scanning.py)."""

from __future__ import annotations

import io
import os
import pickle
import uuid
import zipfile
from collections.abc import AsyncIterator

from modelyard.domain.scans import ScanStatus
from modelyard.services.scanning import ScanService
from modelyard.storage.factory import open_store
from tests.storage.conftest import Backend
from tests.support.asyncio_thread import run_async


class RunsCommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def _checkpoint(payload: bytes, storage: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/data/0", os.urandom(storage))
    return buffer.getvalue()


def test_scan_reads_only_what_may_hold_code(backend_env: Backend) -> None:
    store = open_store(backend_env.root)
    location = store.location_for("scan-tests", uuid.uuid4().hex)
    files = {"model.pt": _checkpoint(pickle.dumps({"w": RunsCommand()}, protocol=2),
                                     8 * 1024 * 1024),
             "extra.pkl": pickle.dumps([1, 2, 3]),
             "model.safetensors": os.urandom(1024)}

    async def write() -> None:
        for path, data in files.items():
            async def chunks(data: bytes = data) -> AsyncIterator[bytes]:
                yield data
            await store.write_stream(location, path, chunks())

    run_async(write())  # Playwright's tests may leave a loop running on this thread
    try:
        result = ScanService(None, store).scan_files(  # type: ignore[arg-type]
            location, [(f.path, f.size) for f in store.list_files(location)])
        assert result.status is ScanStatus.UNSAFE
        assert [(f.call, f.file) for f in result.unsafe_findings] == [
            ("posix.system", "model.pt:archive/data.pkl")]
        # The 8 MiB storage and the safetensors file were not read; the small pickle was.
        assert result.bytes_read < 2 * 1024 * 1024, result.bytes_read
        assert result.files_scanned == 2
    finally:
        store.delete_location(location)
