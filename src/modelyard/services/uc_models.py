"""Unity Catalog registered models and the governed lifecycle of their versions.

Every UC dialect (the UC REST 2.1 API, the Databricks `/api/2.0/mlflow/unity-catalog/*`
dialect, copy_model_version, the CLI) goes through this one service. A version's life:

    v = svc.create_version(actor, "main.fraud.detector", source, lineage=Lineage(...))
        # -> status PENDING_REGISTRATION, v.storage_location under the managed root of the
        #    schema, else the catalog, else the metastore (the server's storage root)
    # files arrive at v.storage_location: through `svc.artifacts.write_stream(location, path, it)`
    # (upload URLs, copies), or a `file://` client writing directly, or S3 credentials from
    # `svc.temporary_credentials(...)`
    v = svc.finalize_version(actor, "main.fraud.detector", v.version)
        # -> SHA-256 of every file + root digest stored, status READY; a check runs first
        #    (default: the signature rule, services/signatures.py, unless the service was built
        #    with require_signature=False) and may raise a ModelyardError: the version then ends
        #    FAILED_REGISTRATION with that message and its files are removed
    svc.fail_version(actor, name, version, "upload aborted")   # explicit failure
    svc.delete_version(...) / svc.delete_model(...)            # to the trash (services/trash.py)

Files of a READY version never change: uploads (the signed upload URLs) check
`svc.writable_location(actor, name, version)`, stream into a staging object
(`artifacts.stage_stream`) and make it visible through `svc.publish_file(...)`, which holds the
version's row lock and refuses anything but a PENDING version; finalize takes the same lock and
refuses if the files changed while it was hashing them.
File removal is crash-safe: the transaction that deletes or fails a version queues its location
in `storage_garbage`; `collect_garbage()` runs after commit and again from the periodic sweep
(`sweep()`), which also fails PENDING versions older than the pending timeout.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson

from modelyard.domain import aliases as domain_aliases
from modelyard.domain import names
from modelyard.domain.aliases import ANY_TARGET, Expected
from modelyard.domain.aliases import UNITY_CATALOG as UC_ALIASES
from modelyard.domain.catalog import (
    Lineage,
    Operation,
    UcModel,
    UcVersion,
    VersionFile,
    VersionHasNoFiles,
    VersionNotPending,
    VersionNotReady,
    VersionStatus,
    full_model_name,
    record_emitted,
    split_model_name,
    validate_comment,
    validate_name,
    validate_owner,
)
from modelyard.domain.clock import now_ms
from modelyard.domain.credentials import TemporaryCredentials
from modelyard.domain.entities import Alias, Page, RegisteredModel
from modelyard.domain.errors import (
    AliasNotFound,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    ModelyardError,
    Unavailable,
)
from modelyard.domain.filters import NOT_A_PROMPT
from modelyard.domain.paging import decode_page_token
from modelyard.domain.scans import ScanResult, rejection_message
from modelyard.observability import metrics
from modelyard.services import aliases, authorization
from modelyard.services.catalogs import page_size, paged, validated_tags
from modelyard.services.context import Actor
from modelyard.services.model_signing import ModelSigningService
from modelyard.services.policies import PolicyGate
from modelyard.services.scanning import ModelRejected, ScanService
from modelyard.services.signatures import check_signature
from modelyard.services.storage_gc import collect_garbage
from modelyard.services.trash import TrashBin
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.services.version_import import claim_number
from modelyard.storage.base import ArtifactStore, StagedFile, StoredFile, root_digest
from modelyard.storage.factory import ensure_location, vend_credentials
from modelyard.storage.roots import AllowedRoots
from modelyard.store.catalog import CatalogRepository
from modelyard.store.uc_models import (
    UcModelRepository,
    model_from_point_read,
    model_not_found,
    version_from_point_read,
    version_not_found,
)

log = logging.getLogger("modelyard.uc")


#: The registry namespace of Unity Catalog models (the workspace registry's: services/registry.py).
UC = "uc"

#: `check(store, location)` runs at finalize before the version becomes READY.
FinalizeCheck = Callable[[ArtifactStore, str], None]


class UcModelService:
    def __init__(self, units: UnitOfWorkFactory, artifacts: ArtifactStore, roots: AllowedRoots,
                 pending_timeout: float = 3600.0, credential_ttl: int = 3600,
                 gate: PolicyGate | None = None, require_signature: bool = True,
                 signing: ModelSigningService | None = None,
                 scanner: ScanService | None = None,
                 trash: TrashBin | None = None) -> None:
        self.units = units
        #: Deleting moves to the trash for the retention period (services/trash.py).
        self.trash = trash or TrashBin()
        self.artifacts = artifacts
        self.roots = roots
        #: Promotion policies every alias move passes (services/policies.py).
        self.gate = gate or PolicyGate(artifacts)
        self.pending_timeout = pending_timeout
        self.credential_ttl = credential_ttl
        #: Databricks' rule, for every finalize whichever dialect asks (services/signatures.py).
        self.require_signature = require_signature
        #: Model signing (issue 20 item 4): `model.sig` verified at finalize against the
        #: trusted signers (services/model_signing.py); not the MLmodel's schema signature.
        self.signing = signing or ModelSigningService(units, artifacts)
        #: The model scan at finalize (services/scanning.py); None: versions are not scanned.
        self.scanner = scanner

    @contextmanager
    def _write(self, actor: Actor,
               reason: str | None = None) -> Iterator[tuple[UcModelRepository, UnitOfWork]]:
        with self.units.write(actor, scope=UC, reason=reason) as uow:
            yield uow.uc_models, uow

    @contextmanager
    def _read(self, actor: Actor) -> Iterator[UcModelRepository]:
        with self.units.read(actor) as uow:
            yield uow.uc_models

    def _version_for_writer(self, actor: Actor, full_name: str,
                            version: int | str) -> UcVersion:
        """The version whose files the caller is about to write. That needs CREATE MODEL
        VERSION (or ownership), not EXECUTE: checked here, so the read itself is unchecked."""
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        if not actor.is_admin:
            with self._read(actor) as repo:
                authorization.require_uc(repo.conn, actor, "model.create_version", full_name)
        return self._version_already_checked(actor, full_name, number)

    def _version_already_checked(self, actor: Actor, full_name: str, number: int) -> UcVersion:
        """A version read without a privilege check, for a caller whose access to it has been
        checked already."""
        row = self.units.point_reads.uc_version_row(full_name, version=number)
        if row is not None:
            return version_from_point_read(row)
        with self._read(actor) as repo:
            return repo.versions([repo.version_row(full_name, number)])[0]  # its precise 404

    # ---- registered models ----------------------------------------------------------------

    def create_model(self, actor: Actor, catalog_name: str, schema_name: str, name: str,
                     comment: str | None = None, tags: Mapping[str, str] | None = None,
                     owner: str | None = None) -> UcModel:
        full_name = ".".join((validate_name(catalog_name, "catalog_name"),
                              validate_name(schema_name, "schema_name"),
                              validate_name(name, "name")))
        comment = validate_comment(comment)
        clean_tags = validated_tags(tags)
        owner = validate_owner(owner) if owner else actor.name
        model_uuid = str(uuid.uuid4())
        with self._write(actor) as (repo, uow):
            # Clients create the model first and go on to add a version when told it exists
            # (mlflow's register_model): a caller who may see the existing model learns that
            # it exists, even without CREATE MODEL on the schema; one who may not see it gets
            # the schema's answer, as if it were not there.
            if authorization.uc_may(repo.conn, actor, "model.read", full_name) and \
                    repo.model_exists(full_name):
                raise AlreadyExists(f"Registered model already exists: {full_name}")
            authorization.require_uc(repo.conn, actor, "model.create",
                                     full_name.rsplit(".", 1)[0])
            schema = uow.catalog.schema_row(*full_name.split(".")[:2])
            parent = schema.storage_location or self._catalog_location(uow.catalog,
                                                                       schema.catalog_name)
            now = now_ms()
            model_id = repo.insert_model(
                name=full_name, uc_id=model_uuid, schema_id=schema.id, description=comment,
                storage_location=f"{parent}/models/{model_uuid}", owner=owner,
                user_id=actor.name, updated_by=actor.name, created_at=now, updated_at=now)
            uow.registry(UC).insert_model_tags(model_id, full_name, clean_tags)
            uow.record("registered_model.create", "registered_model", full_name,
                       after={"comment": comment, "tags": clean_tags, "owner": owner})
            return repo.models([repo.model_row(full_name)])[0]

    def _catalog_location(self, repo: CatalogRepository, catalog_name: str) -> str:
        catalog = repo.catalog_row(catalog_name)
        return catalog.storage_location or self.artifacts.location_for("__unitystorage")

    def get_model(self, actor: Actor, full_name: str) -> UcModel:
        full_name = full_model_name(full_name)
        row = self._checked_read(actor, "model.read", full_name, "uc_model")
        if row is None:
            raise model_not_found(full_name)
        return model_from_point_read(row)

    def allowed(self, actor: Actor, full_name: str, ops: Iterable[str]) -> dict[str, bool]:
        """Which of `ops` ("model.manage", "model.tag", …) the caller may do on the model: the
        web UI offers only those."""
        full_name = full_model_name(full_name)
        with self._read(actor) as repo:
            return {op: authorization.uc_may(repo.conn, actor, op, full_name) for op in ops}

    def search_models(self, actor: Actor, text: str, max_results: int | None = None,
                      page_token: str | None = None) -> Page[RegisteredModel]:
        """The web UI's search box over Unity Catalog: full names, tag keys and values and
        aliases containing `text`, among the models the caller may see (filtered in the query,
        so pages are full)."""
        limit, offset = page_size(max_results), decode_page_token(page_token)
        with self.units.read(actor) as uow:
            rows = uow.registry(UC).search_models(
                [NOT_A_PROMPT], [("name", False)], offset, limit + 1, text=text.strip(),
                uc_readers=authorization.uc_readers(actor))
        return paged(rows, offset, limit)

    def list_models(self, actor: Actor, catalog_name: str | None = None,
                    schema_name: str | None = None, max_results: int | None = None,
                    page_token: str | None = None, prompts: bool = False) -> Page[UcModel]:
        """Models (prompts are left out), or with `prompts` only the prompts."""
        if bool(catalog_name) != bool(schema_name):
            raise InvalidArgument("Cannot specify catalog w/o schema or schema w/o catalog: "
                                  "give both catalog_name and schema_name, or neither.")
        limit, offset = page_size(max_results), decode_page_token(page_token)
        with self.units.read(actor) as uow:
            repo = uow.uc_models
            schema_id = None
            if catalog_name and schema_name:
                authorization.require_uc(repo.conn, actor, "schema.read",
                                         f"{catalog_name}.{schema_name}")
                schema_id = uow.catalog.schema_row(validate_name(catalog_name, "catalog_name"),
                                                   validate_name(schema_name, "schema_name")).id
            # Only what the caller may see, filtered in the query so that pages are full.
            rows = repo.models(repo.list_model_rows(schema_id, offset, limit + 1,
                                                    authorization.uc_readers(actor), prompts))
        return paged(rows, offset, limit)

    def update_model(self, actor: Actor, full_name: str, comment: str | None = None,
                     new_name: str | None = None, owner: str | None = None) -> UcModel:
        full_name = full_model_name(full_name)
        if comment is None and not new_name and owner is None:
            raise InvalidArgument("No updated fields defined.")
        target = full_name
        if new_name:
            # UC sends the new leaf name; the mlflow clients may send a full name.
            parts = new_name.split(".")
            if len(parts) == 3:
                target = full_model_name(new_name)
                if target.split(".")[:2] != full_name.split(".")[:2]:
                    raise InvalidArgument("A model can only be renamed within its schema.")
            else:
                target = ".".join([*full_name.split(".")[:2], validate_name(new_name,
                                                                            "new_name")])
        changes: dict[str, Any] = {}
        if comment is not None:
            changes["description"] = validate_comment(comment)
        if owner is not None:
            changes["owner"] = validate_owner(owner) if owner else actor.name
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.manage", full_name)
            if "owner" in changes:
                authorization.require_uc(repo.conn, actor, "model.own", full_name)
            row = repo.model_row(full_name, for_update=True)
            if target != full_name:
                repo.rename_model(row.id, target)
            uow.registry(UC).update_model(row.id, now_ms(), updated_by=actor.name, **changes)
            uow.record("registered_model.update", "registered_model", target,
                       before={"name": full_name, **{k: getattr(row, k) for k in changes}},
                       after={"name": target, **changes})
            return repo.models([repo.model_row(target)])[0]

    def delete_model(self, actor: Actor, full_name: str) -> None:
        """Moves the model with all its versions to the trash (services/trash.py): gone from
        every API at once, its files kept until it is purged."""
        full_name = full_model_name(full_name)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.manage", full_name)
            row = repo.model_row(full_name, for_update=True)
            trashed = self.trash.delete_model(uow, UC, row.id, full_name,
                                              row.owner or row.user_id, row.schema_id)
            uow.record("registered_model.delete", "registered_model", full_name,
                       after=trashed)

    def set_model_tag(self, actor: Actor, full_name: str, key: str, value: str) -> None:
        full_name = full_model_name(full_name)
        key, value = names.validate_tag(key, value)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.tag", full_name)
            row = repo.model_row(full_name, for_update=True)
            uow.registry(UC).set_model_tag(row.id, row.name, key, value)
            uow.record("registered_model.set_tag", "registered_model", full_name,
                       after={"key": key, "value": value})

    def delete_model_tag(self, actor: Actor, full_name: str, key: str) -> None:
        full_name = full_model_name(full_name)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.tag", full_name)
            uow.registry(UC).delete_model_tag(repo.model_row(full_name).id, key)
            uow.record("registered_model.delete_tag", "registered_model", full_name,
                       before={"key": key})

    # ---- versions: lifecycle --------------------------------------------------------------

    def create_version(self, actor: Actor, full_name: str, source: str,
                       comment: str | None = None, lineage: Lineage | None = None,
                       tags: Mapping[str, str] | None = None,
                       number: int | None = None) -> UcVersion:
        """A new version in PENDING_REGISTRATION with its own empty storage location.
        `number`: import only (services/version_import.py), the number it must have."""
        full_name = full_model_name(full_name)
        lineage = lineage or Lineage()
        names.validate_source(source)
        clean_tags = validated_tags(tags)
        values = {
            "source": source,
            "run_id": names.validate_short_text("run_id", lineage.run_id),
            "logged_model_id": names.validate_short_text("model_id", lineage.model_id),
            "run_tracking_server_id": names.validate_short_text(
                "run_tracking_server_id", lineage.run_tracking_server_id),
            "description": validate_comment(comment),
        }
        extra = lineage.extra()
        version_uuid = str(uuid.uuid4())
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.create_version", full_name)
            core = uow.registry(UC)
            model = repo.model_row(full_name)
            # A catalog made before its root was disallowed gets no new files there.
            self.roots.check_location(model.storage_location)
            now = now_ms()
            _, number = claim_number(core, full_name, number)
            location = f"{model.storage_location}/versions/{version_uuid}"
            core.insert_version(
                model_id=model.id, version=number, uc_id=version_uuid, run_link="",
                stage="None", status=VersionStatus.PENDING_REGISTRATION.value,
                status_message="", storage_location=location,
                lineage=orjson.dumps(extra).decode() if extra else None, user_id=actor.name,
                updated_by=actor.name, created_at=now, updated_at=now, tags=clean_tags,
                **values)
            uow.record("model_version.create", "model_version", f"{full_name}/{number}",
                       after={**values, **extra, "storage_location": location,
                              "tags": clean_tags})
            version = repo.versions([repo.version_row(full_name, number)])[0]
        ensure_location(self.artifacts, location)
        return version

    def create_ready_version(self, actor: Actor, full_name: str, comment: str | None,
                             tags: Mapping[str, str], source_scheme: str) -> UcVersion:
        """A version without files, READY at once (a prompt version: its content is in its
        tags); its source is `<source_scheme>:/<full name>/<number>`. Needs what adding a
        version needs."""
        full_name = full_model_name(full_name)
        clean_tags = validated_tags(tags)
        description = validate_comment(comment)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.create_version", full_name)
            core = uow.registry(UC)
            model = repo.model_row(full_name)
            now = now_ms()
            _, number = core.allocate_version(full_name)
            source = f"{source_scheme}:/{full_name}/{number}"
            core.insert_version(
                model_id=model.id, version=number, uc_id=str(uuid.uuid4()), run_link="",
                stage="None", status=VersionStatus.READY.value, status_message="",
                storage_location=None, lineage=None, user_id=actor.name,
                updated_by=actor.name, created_at=now, updated_at=now, tags=clean_tags,
                source=source, run_id="", logged_model_id="", run_tracking_server_id="",
                description=description)
            uow.record("model_version.create", "model_version", f"{full_name}/{number}",
                       after={"source": source, "description": description,
                              "tags": clean_tags})
            return repo.versions([repo.version_row(full_name, number)])[0]

    def writable_location(self, actor: Actor, full_name: str, version: int | str) -> str:
        """The location files may still be written to; refused unless PENDING_REGISTRATION."""
        return self.writable_version(actor, full_name, version).storage_location

    def writable_version(self, actor: Actor, full_name: str, version: int | str) -> UcVersion:
        """The version, for a caller who may write its files (CREATE MODEL VERSION: reading
        it is not needed); refused unless PENDING_REGISTRATION."""
        found = self._version_for_writer(actor, full_name, version)
        if found.status is not VersionStatus.PENDING_REGISTRATION:
            raise VersionNotPending(
                f"Model version {found.full_name}/{found.version} is {found.status.value}: "
                "its files can no longer change.")
        return found

    def publish_file(self, actor: Actor, full_name: str, version: int | str, version_id: str,
                     staged: StagedFile) -> None:
        """Make an uploaded file visible under the version's location, only while the version
        is PENDING_REGISTRATION. The publish happens inside a write unit of work holding the
        version row (PostgreSQL: FOR UPDATE; SQLite: BEGIN IMMEDIATE), the lock finalize,
        fail and delete also take: an upload that loses the race to finalize is refused and
        leaves nothing behind, so the files of a READY version never change."""
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        try:
            with self._write(actor) as (repo, uow):
                row = repo.version_row(full_name, number, for_update=True)
                if row.uc_id != version_id:
                    raise VersionNotPending(
                        f"Model version {full_name}/{number} was replaced during the upload.")
                if row.status != VersionStatus.PENDING_REGISTRATION.value:
                    raise VersionNotPending(
                        f"Model version {full_name}/{number} is {row.status}: its files can no "
                        "longer change; the upload was discarded.")
                staged.publish()
                uow.record("model_version.upload_file", "model_version",
                           f"{full_name}/{number}",
                           after={"path": staged.stored.path, "size": staged.stored.size,
                                  "sha256": staged.stored.sha256})
        except BaseException:
            staged.discard()
            raise

    def finalize_version(self, actor: Actor, full_name: str, version: int | str,
                         check: FinalizeCheck | None = None) -> UcVersion:
        found = self._version_for_writer(actor, full_name, version)
        if found.status is not VersionStatus.PENDING_REGISTRATION:
            raise VersionNotPending(
                f"Model version not in a pending registration state: "
                f"{found.full_name}/{found.version} is {found.status.value}.")
        # What the check and the digests saw; compared again under the version's lock below.
        seen = _fingerprints(self.artifacts.list_files(found.storage_location))
        if not seen:
            # Most likely a `file://` client on another host wrote to its own disk: the version
            # stays PENDING (the files may still come), and a READY version without files
            # would only fail later, at load time.
            raise _no_files(found.storage_location)
        if check is None and self.require_signature:
            check = check_signature
        if check is not None:
            try:
                check(self.artifacts, found.storage_location)
            except ModelyardError as error:
                self.fail_version(actor, found.full_name, found.version, error.message)
                raise
        # Hash outside the transaction: reading a large model must not hold the write lock.
        stored = self.artifacts.digest_files(found.storage_location)
        if not stored:
            raise _no_files(found.storage_location)
        files = [VersionFile(f.path, f.size, f.sha256) for f in stored]
        digest = root_digest(stored)
        # ---- model signing (issue 20 item 4, services/model_signing.py): `model.sig` checked
        # against the digests just computed (no second read); the verdict is stored below, in
        # the finalizing transaction. It never fails the finalize: policies decide what needs it.
        signing = self.signing.verify_files(found.storage_location, stored)
        # ---- model scanning (issue 20 item 3, services/scanning.py) ----
        # Outside the transaction like the digests; stored with READY below; under
        # --scan-mode reject an UNSAFE version ends FAILED_REGISTRATION instead.
        scan = self._scan_at_finalize(actor, found, stored)
        with self._write(actor) as (repo, uow):
            row = repo.version_row(found.full_name, found.version, for_update=True)
            # Uploads publish under this same lock: if one landed while we were hashing (outside
            # the lock, so a large model does not hold up every writer), refuse rather than
            # record digests of files that are no longer the ones stored.
            if row.status == VersionStatus.PENDING_REGISTRATION.value and not (
                    seen == _fingerprints(stored)
                    == _fingerprints(self.artifacts.list_files(found.storage_location))):
                raise FilesChanged(
                    f"Files of {found.full_name}/{found.version} changed while it was being "
                    "finalized (an upload was still in flight); finalize again once every "
                    "upload has finished.")
            now = now_ms()
            if not repo.set_version_status(row.id, VersionStatus.PENDING_REGISTRATION,
                                           status=VersionStatus.READY.value, root_digest=digest,
                                           updated_at=now, updated_by=actor.name):
                raise VersionNotPending(
                    f"Model version not in a pending registration state: "
                    f"{found.full_name}/{found.version}")
            repo.insert_files(row.id, files)
            uow.record("model_version.finalize", "model_version",
                       f"{found.full_name}/{found.version}",
                       after={"status": "READY", "root_digest": digest, "files": len(files),
                              "bytes": sum(f.size for f in files)})
            self.signing.record(uow, row.id, found.full_name, found.version, signing)
            if scan is not None and self.scanner is not None:
                self.scanner.record(uow, row.id, found.full_name, found.version, scan)
            return repo.versions([repo.version_row(found.full_name, found.version)])[0]

    def _scan_at_finalize(self, actor: Actor, found: UcVersion,
                          stored: list[StoredFile]) -> ScanResult | None:
        """Scan the version's files; under --scan-mode reject an UNSAFE one is failed (its
        result stored and audited) and ModelRejected raised with the findings."""
        if self.scanner is None:
            return None
        scan = self.scanner.scan_files(found.storage_location,
                                       [(f.path, f.size) for f in stored])
        if self.scanner.rejects(scan):
            message = rejection_message(found.full_name, found.version, scan)
            failed = self.fail_version(actor, found.full_name, found.version, message,
                                       scan=scan)
            raise ModelRejected(failed.status_message)
        return scan

    def fail_version(self, actor: Actor, full_name: str, version: int | str,
                     message: str, scan: ScanResult | None = None) -> UcVersion:
        """PENDING -> FAILED_REGISTRATION with a message; its files are removed."""
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.create_version", full_name)
            row = repo.version_row(full_name, number)
            now = now_ms()
            if not repo.set_version_status(row.id, VersionStatus.PENDING_REGISTRATION,
                                           status=VersionStatus.FAILED_REGISTRATION.value,
                                           status_message=message[:4000], updated_at=now,
                                           updated_by=actor.name):
                raise VersionNotPending(
                    f"Model version {full_name}/{number} is not pending registration.")
            uow.catalog.queue_garbage([row.storage_location], "failed", now)
            if scan is not None and self.scanner is not None:  # the scan that rejected it
                self.scanner.record(uow, row.id, full_name, number, scan)
            uow.record("model_version.fail", "model_version", f"{full_name}/{number}",
                       after={"status": "FAILED_REGISTRATION", "status_message": message})
            result = repo.versions([repo.version_row(full_name, number)])[0]
        self.collect_garbage()
        return result

    def delete_version(self, actor: Actor, full_name: str, version: int | str) -> None:
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.manage", full_name)
            model = repo.model_row(full_name, for_update=True)
            row = repo.version_row(full_name, number)
            now = now_ms()
            trashed = self.trash.delete_version(uow, UC, model.id, full_name, row.id, number,
                                                model.owner or model.user_id)
            uow.registry(UC).update_model(model.id, now, updated_by=actor.name)
            uow.record("model_version.delete", "model_version", f"{full_name}/{number}",
                       before={"source": row.source, "status": row.status,
                               "root_digest": row.root_digest}, after=trashed)

    # ---- versions: reads and metadata -----------------------------------------------------

    def get_version(self, actor: Actor, full_name: str, version: int | str) -> UcVersion:
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        row = self._checked_read(actor, "model.execute", full_name, "uc_by_number",
                                 version=number)
        if row is not None:
            return version_from_point_read(row)
        with self._read(actor) as repo:
            return repo.versions([repo.version_row(full_name, number)])[0]  # its precise 404

    def get_version_by_alias(self, actor: Actor, full_name: str, alias: str) -> UcVersion:
        full_name = full_model_name(full_name)
        row = self._checked_read(actor, "model.execute", full_name, "uc_by_alias", alias=alias)
        if row is not None:
            return version_from_point_read(row)
        with self._read(actor) as repo:
            repo.model_row(full_name)  # the model's 404 first
        raise AliasNotFound(f"Alias not found: {full_name}@{alias}")

    def _checked_read(self, actor: Actor, op: str, full_name: str, key: str,
                      **lookup: Any) -> tuple[Any, ...] | None:
        """A point read (`PointReads.uc_checked`'s keys) of what the caller may `op`: its row,
        or None if there is none. Raises when the caller may not: the check's row comes in the
        same statement. Admins hold every privilege: their reads skip it."""
        reads = self.units.point_reads
        if actor.is_admin:
            if key == "uc_model":
                return reads.uc_model_row(full_name)
            return reads.uc_version_row(full_name, **lookup)
        access, found = reads.uc_checked(key, full_name, actor.principals, **lookup)
        parts = full_name.split(".")
        view, exists = authorization.uc_view_of(actor, parts, access)
        authorization.check_uc(actor, op, full_name, view, exists)
        return found

    def list_versions(self, actor: Actor, full_name: str, max_results: int | None = None,
                      page_token: str | None = None, newest_first: bool = False
                      ) -> Page[UcVersion]:
        """The API lists versions oldest first, as Unity Catalog does; the web UI newest
        first."""
        full_name = full_model_name(full_name)
        limit, offset = page_size(max_results), decode_page_token(page_token)
        with self._read(actor) as repo:
            authorization.require_uc(repo.conn, actor, "model.execute", full_name)
            model = repo.model_row(full_name)
            rows = repo.versions(repo.list_version_rows(model.id, offset, limit + 1,
                                                        newest_first))
        return paged(rows, offset, limit)

    def update_version(self, actor: Actor, full_name: str, version: int | str,
                       comment: str | None) -> UcVersion:
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        if comment is None:
            raise InvalidArgument("No updated fields defined.")
        comment = validate_comment(comment)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.manage", full_name)
            row = repo.version_row(full_name, number)
            uow.registry(UC).update_version(row.id, now_ms(), description=comment,
                                           updated_by=actor.name)
            uow.record("model_version.update", "model_version", f"{full_name}/{number}",
                       before={"comment": row.description}, after={"comment": comment})
            return repo.versions([repo.version_row(full_name, number)])[0]

    def version_files(self, actor: Actor, full_name: str,
                      version: int | str) -> tuple[UcVersion, list[VersionFile]]:
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        with self._read(actor) as repo:
            authorization.require_uc(repo.conn, actor, "model.execute", full_name)
            row = repo.version_row(full_name, number)
            return repo.versions([row])[0], repo.files(row.id)

    def open_file(self, actor: Actor, full_name: str, version: int | str,
                  path: str) -> tuple[VersionFile, Iterator[bytes]]:
        """A READY version's file, by its recorded path, streamed from storage."""
        found, files = self.version_files(actor, full_name, version)
        if found.status is not VersionStatus.READY:
            raise VersionNotReady(
                f"Model version {found.full_name}/{found.version} is {found.status.value}.")
        for file in files:
            if file.path == path:
                return file, self.artifacts.read_stream(found.storage_location, path)
        raise version_not_found(f"{found.full_name}/{found.version}", f"file {path}")

    def set_version_tag(self, actor: Actor, full_name: str, version: int | str, key: str,
                        value: str) -> None:
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        key, value = names.validate_tag(key, value)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.tag", full_name)
            row = repo.version_row(full_name, number)
            uow.registry(UC).set_version_tag(row.id, key, value)
            uow.record("model_version.set_tag", "model_version", f"{full_name}/{number}",
                       after={"key": key, "value": value})

    def delete_version_tag(self, actor: Actor, full_name: str, version: int | str,
                           key: str) -> None:
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.tag", full_name)
            uow.registry(UC).delete_version_tag(repo.version_row(full_name, number).id, key)
            uow.record("model_version.delete_tag", "model_version", f"{full_name}/{number}",
                       before={"key": key})

    def emit_lineage(self, actor: Actor, full_name: str, version: int | str,
                     report: dict[str, Any]) -> UcVersion:
        """Record what a client reports about a version's lineage (`emit-lineage`: the
        notebook, job or pipeline that read it, and the direction); kept on the version and
        shown with its lineage. Reading the version is what such a report describes, so it
        needs what reading does (EXECUTE)."""
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        if len(orjson.dumps(report)) > 16_384:
            raise InvalidArgument("The lineage report is too large (at most 16 KiB).")
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.execute", full_name)
            row = repo.version_row(full_name, number, for_update=True)
            current = repo.versions([row])[0].lineage
            updated = dataclasses.replace(current, emitted=record_emitted(
                current.emitted, report, actor.name, now_ms()))
            repo.set_version_lineage(row.id, updated.extra())
            uow.record("model_version.emit_lineage", "model_version", f"{full_name}/{number}",
                       after=report)
            return repo.versions([repo.version_row(full_name, number)])[0]

    # ---- aliases --------------------------------------------------------------------------

    def set_alias(self, actor: Actor, full_name: str, alias: str, version: int | str,
                  expected: Expected = ANY_TARGET, reason: str | None = None) -> Alias:
        """Move the alias; with `expected`, only if it still points there (409 otherwise)."""
        full_name = full_model_name(full_name)
        names.validate_alias_name(alias)
        number = names.parse_version(version)
        with self._write(actor, reason) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.manage", full_name)
            model = repo.model_row(full_name, for_update=True)
            row = repo.version_row(full_name, number)
            return aliases.move(uow, UC_ALIASES, self.gate, model.id, full_name, alias, row,
                                expected=expected)

    def check_alias_target(self, actor: Actor, full_name: str, alias: str,
                           version: int | str) -> None:
        """Raises what `set_alias` would about the caller and the version, changing nothing:
        the web UI asks this before it asks the user to confirm a move."""
        full_name = full_model_name(full_name)
        names.validate_alias_name(alias)
        number = names.parse_version(version)
        with self.units.read(actor) as uow:
            repo = uow.uc_models
            authorization.require_uc(repo.conn, actor, "model.manage", full_name)
            row = repo.version_row(full_name, number)
            domain_aliases.check_target(UC_ALIASES, full_name, alias, number, row.status)
            self.gate.check_alias(uow, UC, full_name, alias, row, audited=False)

    def delete_alias(self, actor: Actor, full_name: str, alias: str) -> None:
        full_name = full_model_name(full_name)
        with self._write(actor) as (repo, uow):
            authorization.require_uc(repo.conn, actor, "model.manage", full_name)
            model = repo.model_row(full_name, for_update=True)
            aliases.remove(uow, UC_ALIASES, model.id, full_name, alias)

    # ---- credentials ----------------------------------------------------------------------

    def temporary_credentials(self, actor: Actor, catalog_name: str, schema_name: str,
                              model_name: str, version: int | str,
                              operation: str) -> TemporaryCredentials:
        full_name = ".".join(split_model_name(f"{catalog_name}.{schema_name}.{model_name}"))
        try:
            wanted = Operation(operation)
        except ValueError:
            raise InvalidArgument(
                f"Invalid operation '{operation}': use READ_MODEL_VERSION or "
                "READ_WRITE_MODEL_VERSION.") from None
        if wanted is Operation.READ_WRITE:
            location = self.writable_location(actor, full_name, version)
        else:
            found = self.get_version(actor, full_name, version)
            if found.status is VersionStatus.FAILED_REGISTRATION:
                raise VersionNotReady(f"Model version {full_name}/{found.version} failed "
                                      "registration; it has no files.")
            location = found.storage_location
        return vend_credentials(self.artifacts, location, wanted is Operation.READ_WRITE,
                                self.credential_ttl, now_ms())

    # ---- sweeping -------------------------------------------------------------------------

    def collect_garbage(self) -> int:
        """Remove the files of queued locations (see services.storage_gc)."""
        return collect_garbage(self.units.database, self.artifacts)

    def fail_abandoned(self, actor: Actor, now: int | None = None) -> int:
        """Fail every version PENDING for longer than the pending timeout."""
        cutoff = (now if now is not None else now_ms()) - int(self.pending_timeout * 1000)
        with self._read(actor) as repo:
            rows = repo.expired_pending(cutoff, 1000)
        failed = 0
        for row in rows:
            try:
                self.fail_version(actor, row.name, row.version,
                                  f"Registration abandoned: not finalized within "
                                  f"{self.pending_timeout:g} s; its files were removed.")
                failed += 1
            except ModelyardError:
                pass  # finalized or deleted meanwhile
        return failed

    def sweep(self, actor: Actor) -> tuple[int, int]:
        return self.fail_abandoned(actor), self.collect_garbage()


def _no_files(location: str) -> VersionHasNoFiles:
    return VersionHasNoFiles(
        f"No files were uploaded to {location}; nothing to finalize. A client on another "
        "host cannot write file:// locations: register through the databricks-uc registry "
        "URI (upload URLs) or use S3 storage.")


class FilesChanged(FailedPrecondition):
    """Finalize saw the version's files change under it."""


def _fingerprints(files: list[StoredFile]) -> list[tuple[str, int, str]]:
    return [(f.path, f.size, f.fingerprint) for f in files]


def start_sweeper(service: UcModelService, actor: Actor, interval: float) -> threading.Event:
    """Run `service.sweep` now and every `interval` seconds in a daemon thread; set the
    returned event to stop it. Every replica may run one: each step is idempotent."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                service.sweep(actor)
            except Unavailable as error:  # an outage: one line, the next round retries
                log.warning("pending-version sweep skipped: %s", error.message)
            except Exception as error:
                metrics.SWEEPER_RUNS.labels("uc_pending", "failed").inc()
                # One line (the next round retries); the traceback only at DEBUG.
                log.error("pending-version sweep failed: %s: %s", type(error).__name__, error)
                log.debug("pending-version sweep failed", exc_info=True)
            else:
                metrics.SWEEPER_RUNS.labels("uc_pending", "ok").inc()
            if stop.wait(interval):
                return

    threading.Thread(target=loop, name="modelyard-uc-sweeper", daemon=True).start()
    return stop
