"""Choose the backend for a storage root, and the few things the services ask of any backend
beyond the ArtifactStore interface (directories for `file://` clients, temporary credentials).
Which storage roots users may give is storage/roots.py's business.

For the S3 backend (storage/s3.py) the contract is: a class `S3ArtifactStore(root: str)`
implementing ArtifactStore, plus, for the `uc:` client's direct uploads, a method
`vend_credentials(location: str, write: bool, ttl_seconds: int) -> TemporaryCredentials`
returning credentials scoped to that location. Without that method, credential requests for
S3 locations are refused with a clear 400.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from modelyard.domain.credentials import TemporaryCredentials
from modelyard.domain.errors import FailedPrecondition, InvalidArgument
from modelyard.storage.base import ArtifactStore
from modelyard.storage.local import LocalArtifactStore

log = logging.getLogger("modelyard.storage")


def open_store(root: str) -> ArtifactStore:
    if root.startswith("s3://"):
        from modelyard.storage import s3  # type: ignore[attr-defined,unused-ignore]

        store: ArtifactStore = s3.S3ArtifactStore(root)
        return store
    if "://" in root and not root.startswith("file:"):
        raise InvalidArgument(f"Unsupported storage root '{root}': use a path, file:// or s3://")
    return LocalArtifactStore(root)


def scheme_of(uri: str) -> str:
    return urlparse(uri).scheme or "file"


def ensure_location(store: ArtifactStore, location: str) -> None:
    """Create a location where the backend has directories (a `file://` client expects one)."""
    if isinstance(store, LocalArtifactStore):
        try:
            store.ensure_location(location)
        except OSError:
            # The client's own write will report it; the sweep fails the version later.
            log.warning("could not create %s", location, exc_info=True)


def vend_credentials(store: ArtifactStore, location: str, write: bool,
                     ttl_seconds: int, now: int) -> TemporaryCredentials:
    if scheme_of(location) == "file":
        # A file:// client shares the host and writes directly: no credentials are needed.
        return TemporaryCredentials(url=location, expiration_time=now + ttl_seconds * 1000)
    vend = getattr(store, "vend_credentials", None)
    if vend is None:
        raise FailedPrecondition(
            f"This server cannot vend temporary credentials for {scheme_of(location)}:// "
            "storage; upload through Modelyard's upload URLs instead.")
    credentials: TemporaryCredentials = vend(location, write, ttl_seconds)
    return credentials
