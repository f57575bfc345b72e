"""Back up a running Modelyard (its database, the governed files it references, the key files
of its data directory) and restore it elsewhere, checking that everything came back.

A backup is a directory:

    manifest.json     what is inside: row count and digest of every table, the audit chain's
                      head, every governed file (location, path, size, SHA-256), the data
                      directory's files; written last, so a directory without it is no backup
    modelyard.db      the database as an SQLite file, whatever the engine (a portable format
                      that `restore` loads into SQLite or PostgreSQL)
    files/ab/abcd…    each governed file once, named by its SHA-256
    data-dir/…        the data directory's own files (key files, the admin token)

Consistency while the server serves writes: SQLite's online backup API copies the database in
one read transaction (WAL: writers go on); PostgreSQL is read in one SERIALIZABLE READ ONLY
DEFERRABLE transaction, table after table, in Python (pg_dump need not match the server's
version). Governed files of a READY version never change, so copying them after the snapshot
is consistent, except for a version deleted in between: its files may be gone before they are
copied, and then the snapshot is taken again (the files already copied are kept).
Workspace-registry versions' sources are not Modelyard's files and are not in a backup.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from modelyard.domain.clock import now_ms
from modelyard.domain.errors import FailedPrecondition, NotFound
from modelyard.services import audit
from modelyard.storage.base import ArtifactStore
from modelyard.storage.factory import open_store, scheme_of
from modelyard.store import snapshot
from modelyard.store.database import Database

FORMAT = "modelyard-backup"
FORMAT_VERSION = 1
MANIFEST, DATABASE, FILES, DATA_DIR = "manifest.json", "modelyard.db", "files", "data-dir"
CHUNK = 1024 * 1024
SNAPSHOT_ATTEMPTS = 3
#: The SQLite database's own files: not copied from the data directory as files (the write
#: lock, store/sqlite_write_lock.py, is the server's own, empty, and held while it writes).
_DATABASE_FILES = ("modelyard.db", "modelyard.db-wal", "modelyard.db-shm",
                   "modelyard.db-journal", "modelyard.db-write.lock")


class BackupError(Exception):
    """The backup cannot be made, verified or restored; the message says why."""


Progress = Callable[[str, int], None]  # (what, bytes) as files are copied


def _no_progress(_what: str, _size: int) -> None:
    pass


# ---- digests ------------------------------------------------------------------------------------

def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# ---- snapshot -----------------------------------------------------------------------------------

# ---- files --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GovernedFile:
    location: str
    path: str
    size: int
    sha256: str


class _Stores:
    """One backend per scheme; backends read and write any location of their scheme."""

    def __init__(self, default_root: str) -> None:
        self.default_root = default_root
        self._open: dict[str, ArtifactStore] = {}

    def for_location(self, location: str) -> ArtifactStore:
        scheme = scheme_of(location)
        if scheme not in self._open:
            root = self.default_root if scheme_of(self.default_root) == scheme else location
            self._open[scheme] = open_store(root)
        return self._open[scheme]


def _blob(backup: Path, sha256: str) -> Path:
    return backup / FILES / sha256[:2] / sha256


def _copy_files(files: list[GovernedFile], stores: _Stores, backup: Path,
                progress: Progress) -> list[GovernedFile]:
    """Copy each file not in the backup yet; returns the files that were not found."""
    missing: list[GovernedFile] = []
    for file in files:
        blob = _blob(backup, file.sha256)
        if blob.exists():
            continue
        blob.parent.mkdir(parents=True, exist_ok=True)
        partial = blob.with_suffix(".partial")
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                for chunk in stores.for_location(file.location).read_stream(file.location,
                                                                           file.path):
                    out.write(chunk)
                    digest.update(chunk)
                    progress(file.path, len(chunk))
        except NotFound:
            partial.unlink(missing_ok=True)
            missing.append(file)
            continue
        except Exception as error:  # the storage is unreachable or refuses: say which file
            partial.unlink(missing_ok=True)
            raise BackupError(f"reading {file.location}/{file.path} failed: {error}") from error
        if digest.hexdigest() != file.sha256:
            partial.unlink(missing_ok=True)
            raise BackupError(
                f"{file.location}/{file.path} in storage does not match its recorded SHA-256 "
                f"(stored {digest.hexdigest()}, recorded {file.sha256}): the storage was "
                "changed outside Modelyard")
        partial.replace(blob)
    return missing


def _data_dir_files(data_dir: Path | None) -> list[Path]:
    """The data directory's own top-level files (key files, the admin token), not the
    database and not logs."""
    if data_dir is None or not data_dir.is_dir():
        return []
    return sorted(p for p in data_dir.iterdir()
                  if p.is_file() and p.name not in _DATABASE_FILES and p.suffix != ".log")


# ---- backup -------------------------------------------------------------------------------------

def create_backup(database: Database, storage_root: str, data_dir: Path | None,
                  target: Path, progress: Progress = _no_progress) -> dict[str, Any]:
    """Write a backup of the running server into the new directory `target`; returns its
    manifest."""
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} exists and is not empty; back up into a new directory")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, mode=0o700)
    storage_root = open_store(storage_root).root  # as locations spell it (file://, s3://)
    stores = _Stores(storage_root)
    db_file = partial / DATABASE
    for _attempt in range(SNAPSHOT_ATTEMPTS):
        try:
            snapshot.take(database, db_file)
        except FailedPrecondition as error:
            raise BackupError(error.message) from None
        files = [GovernedFile(*row) for row in snapshot.file_governed_files(db_file)]
        missing = _copy_files(files, stores, partial, progress)
        if not missing:
            break
    else:
        raise BackupError(
            f"files recorded in the database are missing from storage, on each of "
            f"{SNAPSHOT_ATTEMPTS} snapshots (versions deleted during every attempt, or files "
            "removed outside Modelyard): "
            + ", ".join(f"{f.location}/{f.path}" for f in missing[:5]))
    kept = {f.sha256 for f in files}
    for blob in (partial / FILES).glob("*/*") if (partial / FILES).exists() else []:
        if blob.name not in kept:  # copied for a snapshot that was then taken again
            blob.unlink()
    (partial / DATA_DIR).mkdir(mode=0o700)
    data_files = []
    for path in _data_dir_files(data_dir):
        shutil.copy2(path, partial / DATA_DIR / path.name)
        data_files.append({"name": path.name, "size": path.stat().st_size,
                           "sha256": _file_sha256(path), "mode": path.stat().st_mode & 0o777})
    manifest = _describe(db_file)
    manifest.update({
        "created_at": now_ms(),
        "source": {"engine": database.dialect, "storage_root": storage_root},
        "files": [vars(f) for f in files],
        "data_dir_files": data_files,
    })
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    if target.exists():
        target.rmdir()
    partial.replace(target)
    return manifest


def _describe(db_file: Path) -> dict[str, Any]:
    """The manifest's description of a backup's database file."""
    sha256 = _file_sha256(db_file)
    counts, heads = snapshot.file_digests(db_file)
    database = snapshot.ReadOnlyDatabase(db_file)
    try:
        problems, head = audit.verify(cast(Database, database))
    finally:
        database.dispose()
    if problems:
        raise BackupError("the audit chain does not verify: " + "; ".join(problems[:5]))
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "schema_heads": heads,
        "database": {"file": DATABASE, "size": db_file.stat().st_size,
                     "sha256": sha256},
        "tables": {name: {"rows": rows, "digest": digest}
                   for name, (rows, digest) in counts.items()},
        "audit_head": f"{head[0]}:{head[1]}" if head else None,
    }


# ---- verify -------------------------------------------------------------------------------------

def read_manifest(backup: Path) -> dict[str, Any]:
    path = backup / MANIFEST
    if not path.is_file():
        raise BackupError(f"{backup} is not a complete backup: it has no {MANIFEST}")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except ValueError as error:
        raise BackupError(f"{path} is not valid JSON: {error}") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{backup} is not a Modelyard backup of format {FORMAT_VERSION}")
    return manifest


def verify_backup(backup: Path) -> list[str]:
    """Every way the backup differs from its manifest (empty: it is intact)."""
    manifest = read_manifest(backup)
    problems: list[str] = []
    db_file = backup / DATABASE
    if not db_file.is_file():
        return [f"{DATABASE} is missing"]
    if _file_sha256(db_file) != manifest["database"]["sha256"]:
        problems.append(f"{DATABASE} does not match its SHA-256 in the manifest")
    try:
        described = _describe(db_file)
    except Exception as error:  # a damaged file fails in SQLite's own ways
        problems.append(f"{DATABASE} cannot be read: {error}")
    else:
        for name, expected in manifest["tables"].items():
            if described["tables"].get(name) != expected:
                problems.append(f"table {name}: {described['tables'].get(name)} in the "
                                f"database, {expected} in the manifest")
        if described["audit_head"] != manifest["audit_head"]:
            problems.append(f"the audit chain ends at {described['audit_head']}, the "
                            f"manifest says {manifest['audit_head']}")
    for file in manifest["files"]:
        blob = _blob(backup, file["sha256"])
        if not blob.is_file():
            problems.append(f"{file['location']}/{file['path']}: its copy is missing")
        elif _file_sha256(blob) != file["sha256"]:
            problems.append(f"{file['location']}/{file['path']}: its copy is damaged")
    for entry in manifest["data_dir_files"]:
        path = backup / DATA_DIR / entry["name"]
        if not path.is_file() or _file_sha256(path) != entry["sha256"]:
            problems.append(f"data directory file {entry['name']} is missing or damaged")
    return problems


# ---- restore ------------------------------------------------------------------------------------

@dataclass
class RestoreReport:
    tables: dict[str, int] = field(default_factory=dict)
    files: int = 0
    data_dir_files: list[str] = field(default_factory=list)
    audit_head: str | None = None
    problems: list[str] = field(default_factory=list)


async def _blob_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _stored_sha256(store: ArtifactStore, location: str, path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        for chunk in store.read_stream(location, path):
            digest.update(chunk)
    except NotFound:
        return None
    return digest.hexdigest()


def restore_backup(backup: Path, database: Database, storage_root: str,
                   data_dir: Path | None, progress: Progress = _no_progress) -> RestoreReport:
    """Restore `backup` into an empty database and storage root, then check it: every table
    equal to the backup's, the audit chain verifying, every file's SHA-256."""
    problems = verify_backup(backup)
    if problems:
        raise BackupError("the backup is damaged, nothing was restored: " + "; ".join(problems))
    manifest = read_manifest(backup)
    if not snapshot.is_empty(database):
        raise BackupError("the target database is not empty; restore into a new one")
    old_root = manifest["source"]["storage_root"]
    storage_root = open_store(storage_root).root
    report = RestoreReport()
    with tempfile.TemporaryDirectory(prefix="modelyard-restore-") as scratch:
        staged = Path(scratch) / DATABASE
        shutil.copyfile(backup / DATABASE, staged)
        snapshot.prepare_for_restore(staged, old_root, storage_root)
        snapshot.load(staged, database)
        stores = _Stores(storage_root)
        try:
            asyncio.run(_restore_files(backup, manifest, stores, old_root, storage_root,
                                       progress))
        except Exception as error:  # the storage is unreachable or refuses
            raise BackupError(f"the database was restored, but writing the files under "
                              f"{storage_root} failed: {error}. Fix the storage and restore "
                              "again into a new data directory or empty database.") from error
        if data_dir is not None:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            for entry in manifest["data_dir_files"]:
                target = data_dir / entry["name"]
                if not target.exists():
                    shutil.copyfile(backup / DATA_DIR / entry["name"], target)
                    # The owner's bits only: the data directory is the server's alone.
                    os.chmod(target, entry["mode"] & 0o700)
                    report.data_dir_files.append(entry["name"])
        _check(staged, database, manifest, stores, old_root, storage_root, report)
    return report


async def _restore_files(backup: Path, manifest: dict[str, Any], stores: _Stores, old_root: str,
                         new_root: str, progress: Progress) -> None:
    for file in manifest["files"]:
        location = snapshot.moved(file["location"], old_root, new_root)
        store = stores.for_location(location)
        if _stored_sha256(store, location, file["path"]) == file["sha256"]:
            continue  # already there (a root outside the server's, shared with the source)
        stored = await store.write_stream(location, file["path"],
                                          _blob_chunks(_blob(backup, file["sha256"])))
        progress(file["path"], stored.size)


def _check(staged: Path, database: Database, manifest: dict[str, Any], stores: _Stores,
           old_root: str, new_root: str, report: RestoreReport) -> None:
    expected, _ = snapshot.file_digests(staged)
    restored = snapshot.database_digests(database)
    for name, (rows, digest) in expected.items():
        report.tables[name] = restored[name][0]
        if restored[name] != (rows, digest):
            report.problems.append(f"table {name}: {restored[name][0]} rows restored, "
                                   f"{rows} in the backup, or their contents differ")
    problems, head = audit.verify(database)
    report.problems.extend(f"audit chain: {p}" for p in problems)
    report.audit_head = f"{head[0]}:{head[1]}" if head else None
    if report.audit_head != manifest["audit_head"]:
        report.problems.append(f"the audit chain ends at {report.audit_head}, the backup's at "
                               f"{manifest['audit_head']}")
    for file in manifest["files"]:
        location = snapshot.moved(file["location"], old_root, new_root)
        found = _stored_sha256(stores.for_location(location), location, file["path"])
        if found != file["sha256"]:
            report.problems.append(f"{location}/{file['path']}: "
                                   f"{'missing' if found is None else 'a different SHA-256'}")
        else:
            report.files += 1
