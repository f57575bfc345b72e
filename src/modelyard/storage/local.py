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
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.domain.file_paths import shown, too_long, validate_file_path
from modelyard.storage.base import READ_CHUNK_SIZE, StoredFile

_TMP_PREFIX = ".modelyard-upload-"
#: Governed locations live below `<root>/__unitystorage/`; uploads are staged in its `.uploads`.
RESERVED_DIR = "__unitystorage"
STAGING_DIR = ".uploads"
#: Linux's PATH_MAX, counting the terminating NUL.
_PATH_MAX = 4096


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
    relative = PurePosixPath(validate_file_path(path))
    if any(part.startswith(_TMP_PREFIX) for part in relative.parts):
        raise InvalidArgument(f"Invalid file path '{shown(path)}': names starting with "
                              f"'{_TMP_PREFIX}' are reserved.")
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

    def _dir(self, location: str) -> Path:
        return file_uri_to_path(location)

    def _file(self, location: str, path: str) -> Path:
        full = self._dir(location).joinpath(*_relative(path).parts)
        size = len(os.fsencode(full))
        if size >= _PATH_MAX:
            raise too_long(path, size, _PATH_MAX - 1)
        return full

    def check_file_path(self, location: str, path: str) -> None:
        self._file(location, path)

    async def write_stream(self, location: str, path: str,
                           chunks: AsyncIterator[bytes]) -> StoredFile:
        staged = await self.stage_stream(location, path, chunks)
        staged.publish()
        return staged.stored

    async def stage_stream(self, location: str, path: str,
                           chunks: AsyncIterator[bytes]) -> _LocalStaged:
        target = self._file(location, path)
        staging = _staging_dir(self._dir(location))
        staging.mkdir(parents=True, exist_ok=True)
        temporary = staging / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        digest, size = hashlib.sha256(), 0
        staged = _LocalStaged(StoredFile(str(_relative(path)), 0), temporary, target)
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

    def open_seekable(self, location: str, path: str) -> BinaryIO:
        """The file opened for random access: the model scan (services/scanning.py) reads a
        zip's directory at its end and only the members that may hold code."""
        target = self._file(location, path)
        if not target.is_file():
            raise NotFound(f"File '{path}' not found in {location}")
        return target.open("rb")

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

    def remove_stale_uploads(self, roots: list[str], older_than: float) -> int:
        """Remove the temporary files of uploads below these roots that nothing has written
        to since `older_than` (epoch seconds): uploads cut off by a crash or a kill. A file
        still being written keeps a fresh modification time."""
        removed = 0
        for root in roots:
            staging = file_uri_to_path(root) / RESERVED_DIR / STAGING_DIR
            try:
                entries = list(os.scandir(staging))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                try:
                    if (entry.name.startswith(_TMP_PREFIX) and entry.is_file(follow_symlinks=False)
                            and entry.stat(follow_symlinks=False).st_mtime < older_than):
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    pass  # finished or removed meanwhile
        return removed


def _staging_dir(location_dir: Path) -> Path:
    """Where a file is received before it is renamed into place: one flat directory per storage
    root (`<root>/__unitystorage/.uploads`), so that the sweeper finds what a crash left behind
    without walking every version (and the rename stays on one filesystem). A location outside
    the governed layout keeps its temporary files in its own directory."""
    parts = location_dir.parts
    if RESERVED_DIR in parts:
        return Path(*parts[:parts.index(RESERVED_DIR) + 1]) / STAGING_DIR
    return location_dir


class _LocalStaged:
    """A temporary file in the staging directory; `publish` renames it into place."""

    def __init__(self, stored: StoredFile, temporary: Path, target: Path) -> None:
        self.stored = stored
        self._temporary = temporary
        self._target = target

    def publish(self) -> None:
        # The target's directories are made only now: an upload that fails leaves none.
        try:
            self._target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            self.discard()
            raise InvalidArgument(f"Cannot store '{self.stored.path}': a file of the version "
                                  "has the name of one of its directories.") from None
        os.replace(self._temporary, self._target)

    def discard(self) -> None:
        self._temporary.unlink(missing_ok=True)
