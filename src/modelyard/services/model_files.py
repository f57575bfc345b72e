"""Moving a UC version's files through Modelyard itself: signed upload and download URLs,
directory listings, and the signature rule checked at finalize.

The Databricks client PUTs and GETs these URLs without an Authorization header, so each URL is
its own credential: an HMAC-SHA256 (key in the database, shared by every replica) over the
operation, the version (name, number and its unique id, so a URL dies with the version even if
a new version later takes the same number), the file path, the actor who asked and the expiry.
Uploads are accepted only while the version is PENDING_REGISTRATION and are streamed to the
storage backend chunk by chunk, into a staging object that becomes visible only under the
version's row lock while it is still PENDING: an upload still in flight when finalize runs is
refused (400) and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from anyio import to_thread

from modelyard.domain.catalog import UcVersion, VersionFile, VersionStatus, full_model_name
from modelyard.domain.errors import (
    InvalidArgument,
    ModelyardError,
    NotFound,
    PermissionDenied,
)
from modelyard.domain.numbers import INT32_MAX, ascii_int
from modelyard.observability import metrics
from modelyard.services.context import Actor
from modelyard.services.uc_models import UcModelService
from modelyard.storage.base import ArtifactStore, StoredFile

#: Where the signed URLs point (the API layer serves these paths).
SIGNED_PREFIX = "/api/modelyard/v1/signed-files"
UPLOAD, DOWNLOAD = "upload", "download"

class UrlRejected(PermissionDenied):
    """A signed URL that is forged, expired, or for a version that no longer accepts it."""


@dataclass(frozen=True, slots=True)
class FsPath:
    """`/Models/<catalog>/<schema>/<model>/<version>/<relative path>` of the Files API."""

    full_name: str
    version: int
    path: str  # relative to the version; "" for the version's root


def parse_fs_path(raw: str) -> FsPath:
    parts = [p for p in raw.split("/") if p]
    if len(parts) < 5 or parts[0] != "Models":
        raise InvalidArgument(
            f"Invalid path '{raw}': expected /Models/<catalog>/<schema>/<model>/<version>/...")
    version = ascii_int(parts[4])
    if version is None or not 1 <= version <= INT32_MAX:
        raise InvalidArgument(f"Invalid path '{raw}': the version must be a number.")
    relative = parts[5:]
    if any(p in (".", "..") for p in relative):
        raise InvalidArgument(f"Invalid path '{raw}'.")
    return FsPath(full_model_name(".".join(parts[1:4])), version, "/".join(relative))


@dataclass(frozen=True, slots=True)
class DirEntry:
    path: str  # the full /Models/… path
    name: str
    is_directory: bool
    file_size: int | None


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, *fields: str) -> str:
        # JSON keeps the fields apart: no value can shift text from one field into the next.
        message = json.dumps(list(fields), ensure_ascii=True).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, signature: str, *fields: str) -> bool:
        return hmac.compare_digest(self.sign(*fields), signature)


class ModelFileService:
    def __init__(self, uc_models: UcModelService, signer: UrlSigner,
                 url_ttl: int = 900) -> None:
        self.uc_models = uc_models
        self.signer = signer
        self.url_ttl = url_ttl

    @property
    def artifacts(self) -> ArtifactStore:
        return self.uc_models.artifacts

    # ---- issuing URLs (authenticated callers) -----------------------------------------------

    def upload_url(self, actor: Actor, fs_path: str) -> str:
        """A path+query the caller may PUT one file to; only while the version is PENDING."""
        target = parse_fs_path(fs_path)
        if not target.path:
            raise InvalidArgument(f"Path '{fs_path}' names no file.")
        # A writer may hold CREATE MODEL VERSION without EXECUTE: sign what it may write.
        version = self.uc_models.writable_version(actor, target.full_name, target.version)
        # A name the storage cannot hold is refused now, not by the upload's PUT.
        self.artifacts.check_file_path(version.storage_location, target.path)
        return self._signed(actor, UPLOAD, target, version)

    def download_url(self, actor: Actor, fs_path: str) -> str:
        target = parse_fs_path(fs_path)
        found, files = self.uc_models.version_files(actor, target.full_name, target.version)
        if found.status is not VersionStatus.READY:
            raise InvalidArgument(
                f"Model version {found.full_name}/{found.version} is {found.status.value}: "
                "only READY versions can be downloaded.")
        if not any(f.path == target.path for f in files):
            raise NotFound(f"File {fs_path} does not exist.")
        return self._signed(actor, DOWNLOAD, target, found)

    def _signed(self, actor: Actor, operation: str, target: FsPath, version: UcVersion) -> str:
        expires = str(int(time.time()) + self.url_ttl)
        signature = self.signer.sign(operation, version.full_name, str(version.version),
                                     version.id, target.path, actor.name, expires)
        query = urlencode({"op": operation, "vid": version.id, "actor": actor.name,
                           "expires": expires, "signature": signature})
        return (f"{SIGNED_PREFIX}/{quote(version.full_name)}/{version.version}/"
                f"{quote(target.path)}?{query}")

    # ---- serving signed URLs (no Authorization header) --------------------------------------

    def _check(self, operation: str, full_name: str, version: str, path: str,
               query: dict[str, str]) -> Actor:
        expires, signature = query.get("expires", ""), query.get("signature", "")
        who = query.get("actor", "")
        if query.get("op") != operation or ascii_int(expires) is None or not signature:
            raise UrlRejected("This URL is not a valid Modelyard file URL.")
        if not self.signer.verify(signature, operation, full_name, version,
                                  query.get("vid", ""), path, who, expires):
            raise UrlRejected("The URL's signature does not match.")
        if int(expires) < time.time():
            raise UrlRejected("The URL has expired; ask for a new one.")
        # The signature proves an authorized caller asked for exactly this; act as them with
        # that authority (the URL is the credential, scoped to one version's files).
        return Actor(name=who, is_admin=True)

    async def receive_upload(self, full_name: str, version: str, path: str,
                             query: dict[str, str], chunks: AsyncIterator[bytes]) -> StoredFile:
        actor = self._check(UPLOAD, full_name, version, path, query)
        found = self.uc_models.get_version(actor, full_name, version)
        if found.id != query.get("vid"):
            raise UrlRejected("The URL belongs to a version that no longer exists.")
        location = self.uc_models.writable_location(actor, full_name, version)
        # Streamed to a staging object first; made visible only under the version's lock and
        # only while it is still PENDING (services.uc_models.publish_file).
        staged = await self.artifacts.stage_stream(location, path, chunks)
        try:
            await to_thread.run_sync(self.uc_models.publish_file, actor, full_name, version,
                                     found.id, staged)
        except ModelyardError:
            # Failed or deleted meanwhile: the location is garbage, and whatever this upload
            # created there (directories) must not outlive it. A READY location is left as is.
            try:
                still = self.uc_models.get_version(actor, full_name, version)
            except NotFound:
                still = None
            if still is None or still.id != found.id or (
                    still.status is VersionStatus.FAILED_REGISTRATION):
                await to_thread.run_sync(self.artifacts.delete_location, location)
            raise
        metrics.UPLOAD_BYTES.labels("signed_url").inc(staged.stored.size)
        return staged.stored

    def open_download(self, full_name: str, version: str, path: str,
                      query: dict[str, str]) -> tuple[VersionFile, Iterator[bytes]]:
        actor = self._check(DOWNLOAD, full_name, version, path, query)
        found = self.uc_models.get_version(actor, full_name, version)
        if found.id != query.get("vid"):
            raise UrlRejected("The URL belongs to a version that no longer exists.")
        return self.uc_models.open_file(actor, full_name, version, path)

    # ---- listing ----------------------------------------------------------------------------

    def list_directory(self, actor: Actor, fs_path: str) -> list[DirEntry]:
        """The direct children of a directory of a version; NotFound if it is no directory."""
        target = parse_fs_path(fs_path)
        found, recorded = self.uc_models.version_files(actor, target.full_name, target.version)
        if found.status is VersionStatus.READY:
            files = [(f.path, f.size) for f in recorded]
        elif found.status is VersionStatus.PENDING_REGISTRATION:
            files = [(f.path, f.size) for f in self.artifacts.list_files(found.storage_location)]
        else:
            files = []
        base = f"/Models/{'/'.join(found.full_name.split('.'))}/{found.version}"
        prefix = target.path + "/" if target.path else ""
        entries: dict[str, DirEntry] = {}
        for path, size in files:
            if not path.startswith(prefix):
                continue
            head, _, rest = path[len(prefix):].partition("/")
            full = f"{base}/{prefix}{head}"
            entries.setdefault(head, DirEntry(full, head, bool(rest), None if rest else size))
        if not entries and target.path:
            raise NotFound(f"The directory {fs_path} does not exist.")
        return sorted(entries.values(), key=lambda e: e.name)
