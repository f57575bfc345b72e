"""The local-directory backend: locations are `file:///…` URIs on this host.

Files are written to a temporary name and renamed into place, so a reader (or finalize) never
sees a half-written file under its real name. Paths inside a location are checked to stay inside
it: a client cannot write or read `../` its way out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.storage.base import READ_CHUNK_SIZE, StoredFile

_TMP_PREFIX = ".modelyard-upload-"


def to_file_uri(root: str) -> str:
    """A plain path or a `file:` URI as a normalized `file:///abs/path` URI (no trailing /)."""
    if root.startswith("file:"):
        return Path(file_uri_to_path(root)).resolve().as_uri()
    return Path(root).expanduser().resolve().as_uri()


def file_uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise InvalidArgument(f"Not a local file location: {uri}")
    return Path(unquote(parsed.path))


def _relative(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if (not path or relative.is_absolute() or ".." in relative.parts
            or any(part.startswith(_TMP_PREFIX) for part in relative.parts)):
        raise InvalidArgument(f"Invalid file path '{path}' inside a model version.")
    return relative


class LocalArtifactStore:
    """An ArtifactStore over a directory tree."""

    scheme = "file"

    def __init__(self, root: str) -> None:
        self.root = to_file_uri(root)
        file_uri_to_path(self.root).mkdir(parents=True, exist_ok=True)

    def location_for(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *(p.strip("/") for p in parts)])

    def check_reachable(self) -> None:
        root = file_uri_to_path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"the storage root {root} is not a directory")
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(f"the storage root {root} is not writable")

    def normalize_root(self, uri: str) -> str:
        """A user-given storage root (catalog or schema) in this backend's form."""
        return to_file_uri(uri)

    def _dir(self, location: str) -> Path:
        return file_uri_to_path(location)

    def _file(self, location: str, path: str) -> Path:
        return self._dir(location).joinpath(*_relative(path).parts)

    async def write_stream(self, location: str, path: str,
                           chunks: AsyncIterator[bytes]) -> StoredFile:
        staged = await self.stage_stream(location, path, chunks)
        staged.publish()
        return staged.stored

    async def stage_stream(self, location: str, path: str,
                           chunks: AsyncIterator[bytes]) -> _LocalStaged:
        target = self._file(location, path)
        base = self._dir(location)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f"{_TMP_PREFIX}{uuid.uuid4().hex}")
        digest, size = hashlib.sha256(), 0
        staged = _LocalStaged(StoredFile(str(_relative(path)), 0), temporary, target, base)
        try:
            with temporary.open("wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        except BaseException:
            staged.discard()
            raise
        staged.stored = StoredFile(staged.stored.path, size, digest.hexdigest())
        return staged

    def read_stream(self, location: str, path: str) -> Iterator[bytes]:
        target = self._file(location, path)
        if not target.is_file():
            raise NotFound(f"File '{path}' not found in {location}")
        return self._chunks(target)

    @staticmethod
    def _chunks(target: Path) -> Iterator[bytes]:
        with target.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK_SIZE):
                yield chunk

    def list_files(self, location: str) -> list[StoredFile]:
        base = self._dir(location)
        files: list[StoredFile] = []
        if not base.is_dir():
            return files
        for directory, subdirs, names in os.walk(base):
            subdirs.sort()
            for name in names:
                full = Path(directory, name)
                if name.startswith(_TMP_PREFIX) or full.is_symlink() or not full.is_file():
                    continue
                stat = full.stat()
                files.append(StoredFile(full.relative_to(base).as_posix(), stat.st_size,
                                        fingerprint=f"{stat.st_ino}:{stat.st_mtime_ns}"))
        return sorted(files, key=lambda f: f.path)

    def digest_files(self, location: str) -> list[StoredFile]:
        result = []
        for stored in self.list_files(location):
            digest = hashlib.sha256()
            for chunk in self._chunks(self._file(location, stored.path)):
                digest.update(chunk)
            result.append(StoredFile(stored.path, stored.size, digest.hexdigest(),
                                     stored.fingerprint))
        return result

    def delete_location(self, location: str) -> None:
        # Only "already gone" is ignored (another sweep may be removing the same location);
        # any other failure raises, so the location stays queued instead of being forgotten
        # half-removed.
        def gone_is_fine(_function: object, _path: str, info: tuple[type, object, object]
                         ) -> None:
            if not issubclass(info[0], FileNotFoundError):
                raise info[1]  # type: ignore[misc]

        directory = self._dir(location)
        if directory.exists():
            shutil.rmtree(directory, onerror=gone_is_fine)

    def ensure_location(self, location: str) -> None:
        """Create the directory, so that a `file://` client finds it (as UC OSS does)."""
        self._dir(location).mkdir(parents=True, exist_ok=True)


class _LocalStaged:
    """A temporary file beside its target; `publish` renames it into place."""

    def __init__(self, stored: StoredFile, temporary: Path, target: Path, base: Path) -> None:
        self.stored = stored
        self._temporary = temporary
        self._target = target
        self._base = base

    def publish(self) -> None:
        os.replace(self._temporary, self._target)

    def discard(self) -> None:
        self._temporary.unlink(missing_ok=True)
        # Directories this upload created stay empty: remove them, up to the location.
        directory = self._target.parent
        while directory != self._base and self._base in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
