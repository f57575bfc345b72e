"""services/uc_models.py: a Unity Catalog version's governed lifecycle, called directly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelyard.bootstrap import Modelyard
from modelyard.domain.actor import Actor
from modelyard.domain.catalog import Lineage, VersionNotPending, VersionStatus
from modelyard.domain.errors import ModelyardError, PermissionDenied
from modelyard.services.grants import parse_change
from modelyard.storage.local import file_uri_to_path
from tests.services.conftest import ADMIN, events, ready_version, uc_model
from tests.support.uc_models import SIGNED_MLMODEL


def _grant(built: Modelyard, kind: str, name: str, user: Actor, *privileges: str) -> None:
    built.grants.update(ADMIN, kind, name, [parse_change(user.name, list(privileges), [])])


def test_a_version_goes_from_pending_to_ready_with_digests(built: Modelyard,
                                                           unique: str) -> None:
    full_name = uc_model(built, unique)
    version = built.uc_models.create_version(ADMIN, full_name, "s3://b/x",
                                             lineage=Lineage(run_id="r1"))
    assert version.status is VersionStatus.PENDING_REGISTRATION
    assert f"/versions/{version.id}" in version.storage_location
    directory = file_uri_to_path(version.storage_location)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLmodel").write_text(SIGNED_MLMODEL)

    ready = built.uc_models.finalize_version(ADMIN, full_name, version.version)
    assert ready.status is VersionStatus.READY and len(ready.root_digest) == 64
    _, files = built.uc_models.version_files(ADMIN, full_name, version.version)
    assert [(f.path, f.size) for f in files] == [("MLmodel", len(SIGNED_MLMODEL))]
    with pytest.raises(VersionNotPending):
        built.uc_models.writable_location(ADMIN, full_name, version.version)
    [finalized] = events(built, "model_version.finalize", f"{full_name}/{version.version}")
    assert finalized.after is not None and finalized.after["files"] == 1


def test_a_failed_check_fails_the_version_and_removes_its_files(built: Modelyard,
                                                                unique: str) -> None:
    full_name = uc_model(built, unique)
    version = built.uc_models.create_version(ADMIN, full_name, "s3://b/x")
    directory = file_uri_to_path(version.storage_location)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLmodel").write_bytes(b"no signature\n")

    def refuse(store: object, location: str) -> None:
        raise PermissionDenied("the MLmodel has no signature")

    with pytest.raises(ModelyardError, match="no signature"):
        built.uc_models.finalize_version(ADMIN, full_name, version.version, check=refuse)
    failed = built.uc_models.get_version(ADMIN, full_name, version.version)
    assert failed.status is VersionStatus.FAILED_REGISTRATION
    assert not directory.exists()


def test_a_writer_needs_create_model_version_not_execute(
        built: Modelyard, unique: str, new_user: Callable[[str], Actor]) -> None:
    full_name = uc_model(built, unique)
    pending = built.uc_models.create_version(ADMIN, full_name, "s3://b/x")
    writer = new_user("writer")
    with pytest.raises(ModelyardError):
        built.uc_models.writable_location(writer, full_name, pending.version)

    _grant(built, "catalog", "main", writer, "USE CATALOG")
    _grant(built, "schema", "main.default", writer, "USE SCHEMA")
    _grant(built, "function", full_name, writer, "CREATE MODEL VERSION")
    assert (built.uc_models.writable_location(writer, full_name, pending.version)
            == pending.storage_location)
    # It may write the files, not read the version: that needs EXECUTE.
    with pytest.raises(PermissionDenied):
        built.uc_models.get_version(writer, full_name, pending.version)


def test_abandoned_pending_versions_are_failed(built: Modelyard, unique: str) -> None:
    full_name = uc_model(built, unique)
    pending = built.uc_models.create_version(ADMIN, full_name, "s3://b/x")
    kept = ready_version(built, full_name)
    later = pending.audit.created_at + int(built.uc_models.pending_timeout * 1000) + 1
    assert built.uc_models.fail_abandoned(ADMIN, now=later) >= 1
    assert (built.uc_models.get_version(ADMIN, full_name, pending.version).status
            is VersionStatus.FAILED_REGISTRATION)
    assert built.uc_models.get_version(ADMIN, full_name, kept).status is VersionStatus.READY


def test_deleting_a_model_keeps_its_files_until_it_is_purged(built: Modelyard,
                                                              unique: str) -> None:
    full_name = uc_model(built, unique)
    number = ready_version(built, full_name)
    location = built.uc_models.get_version(ADMIN, full_name, number).storage_location
    assert file_uri_to_path(location).exists()
    built.uc_models.delete_model(ADMIN, full_name)  # to the trash
    assert file_uri_to_path(location).exists()
    built.trash.purge(ADMIN, full_name)
    assert not file_uri_to_path(location).exists()
