"""Where catalogs and schemas may keep their files: under the storage roots the operator allows.

Like Databricks' external locations: a catalog's or schema's `storage_root` is accepted only
under one of the prefixes given with `--allowed-storage-roots` (local directories and
`s3://bucket/prefix`); none are allowed by default, and everything then lives in the server's
managed storage (`--storage-root`). Checking a root touches nothing: no directory is created
and nothing is asked of the filesystem that could tell one refusal from another, so every
refusal reads the same whatever exists on the server. (Local roots are resolved, following
symlinks that exist, so that a link inside an allowed directory cannot lead out of it.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from modelyard.domain.errors import FailedPrecondition, InvalidArgument

#: A catalog's or schema's managed files live below `<root>/__unitystorage/`; a user-given
#: root that names it could reach into another object's files.
RESERVED = "__unitystorage"
_MAX_ROOT_LENGTH = 1024


class StorageRootNotAllowed(InvalidArgument):
    """A storage root outside every location the operator allows."""


def _not_allowed(uri: str) -> StorageRootNotAllowed:
    return StorageRootNotAllowed(
        f"storage_root '{uri}' is not allowed: catalogs and schemas may keep their files only "
        "under the storage locations the server's operator allows (--allowed-storage-roots). "
        "Leave storage_root out to use the managed storage, or ask the operator to allow a "
        "location.")


@dataclass(frozen=True, slots=True)
class _Root:
    """A normalized root: ("file", "", "/a/b") or ("s3", "bucket", "a/b")."""

    scheme: str
    bucket: str
    path: str

    def uri(self) -> str:
        if self.scheme == "file":
            return Path(self.path).as_uri()
        return f"s3://{self.bucket}/{self.path}".rstrip("/")

    def contains(self, other: _Root) -> bool:
        if (self.scheme, self.bucket) != (other.scheme, other.bucket):
            return False
        if self.scheme == "file":
            mine, theirs = PurePosixPath(self.path), PurePosixPath(other.path)
            return theirs == mine or mine in theirs.parents
        return not self.path or other.path == self.path or other.path.startswith(
            self.path + "/")


def _parse(uri: str) -> _Root:
    """A root in normal form; ValueError when it is not one (the caller words the refusal)."""
    if (not uri or len(uri) > _MAX_ROOT_LENGTH
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in uri)):
        raise ValueError("not a storage root")
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        key = parsed.path.strip("/")
        segments = key.split("/") if key else []
        # S3 keys are literal, but several S3-compatible stores resolve `..` and `.`.
        if (not parsed.netloc or parsed.query or parsed.fragment
                or any(s in ("", ".", "..") for s in segments)):
            raise ValueError("not a storage root")
        return _Root("s3", parsed.netloc, key)
    if uri.startswith("file:"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost") or parsed.query or parsed.fragment:
            raise ValueError("not a storage root")
        raw = unquote(parsed.path)
    elif "://" in uri:
        raise ValueError("not a storage root")
    else:
        raw = uri
    if "\0" in raw or not os.path.isabs(raw):
        raise ValueError("not a storage root")
    try:
        resolved = Path(raw).resolve()
    except (OSError, RuntimeError, ValueError):
        raise ValueError("not a storage root") from None
    return _Root("file", "", str(resolved))


class AllowedRoots:
    """The managed root and the operator's allowed storage-root prefixes
    (`--allowed-storage-roots`)."""

    def __init__(self, managed_root: str, prefixes: Iterable[str] = ()) -> None:
        roots = []
        for prefix in prefixes:
            try:
                roots.append(_parse(prefix.strip()))
            except ValueError:
                raise ValueError(
                    f"Invalid allowed storage root {prefix!r}: use an absolute path, a "
                    "file:///… URI or s3://bucket[/prefix].") from None
        self._roots = tuple(roots)
        self._managed = _parse(managed_root)

    @classmethod
    def parse(cls, managed_root: str, text: str | None) -> AllowedRoots:
        """From the setting's text: prefixes separated by commas."""
        return cls(managed_root, (p for p in (text or "").split(",") if p.strip()))

    def normalize(self, uri: object) -> str | None:
        """A user-given `storage_root` in its stored form, or a refusal that says only that it
        is not allowed. Nothing is created: the location's directories appear when the first
        version below it gets its files."""
        if uri is None or uri == "":
            return None
        if not isinstance(uri, str):
            raise InvalidArgument("Parameter 'storage_root' must be a string.")
        try:
            candidate = _parse(uri)
        except ValueError:
            raise _not_allowed(uri) from None
        if (candidate.scheme != self._managed.scheme or RESERVED in candidate.path.split("/")
                or not any(root.contains(candidate) for root in self._roots)):
            raise _not_allowed(uri)
        if candidate.scheme == "s3" and not candidate.path:
            raise InvalidArgument(f"Invalid storage_root '{uri}': it needs a bucket and a "
                                  "key prefix (s3://bucket/prefix).")
        return candidate.uri()

    def check_location(self, location: str) -> None:
        """Refuse to place files at a location that is neither below the managed root nor
        below an allowed root (a catalog created before its root was disallowed)."""
        try:
            candidate = _parse(location)
        except ValueError:
            raise StorageRootGone(_GONE) from None
        if not any(root.contains(candidate) for root in (self._managed, *self._roots)):
            raise StorageRootGone(_GONE)


_GONE = ("This catalog or schema keeps its files in a storage location the server's operator "
         "does not allow (--allowed-storage-roots): no new versions can be stored there. Ask "
         "the operator to allow it, or create the model in another schema.")


class StorageRootGone(FailedPrecondition):
    """A stored location outside every location allowed now."""
