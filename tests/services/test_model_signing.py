"""services/model_signing.py (issue 20 item 4): a UC version's model.sig is verified at finalize
against the trusted signers; `signed` only for a trusted signer whose signature covers exactly
the version's files; the verdict is stored, audited and read by policies (`signed`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard.bootstrap import Modelyard, build
from modelyard.config import Settings
from modelyard.domain.catalog import Lineage, VersionNotReady
from modelyard.domain.model_signing import SigningStatus
from modelyard.domain.policies import PolicyViolation
from modelyard.services.model_signing import ModelSigningService, TrustedSigners
from modelyard.storage.local import file_uri_to_path
from modelyard.store.database import Database, sqlite_url_for
from modelyard.store.migrate import upgrade
from tests.conftest import database_url_for
from tests.services.conftest import ADMIN, events
from tests.support.model_signing import (
    CertifiedKey,
    KeyPair,
    certified_key,
    key_pair,
    model_dir,
    sign_with_certificate,
    sign_with_key,
)


@dataclass(frozen=True)
class Keys:
    trusted: KeyPair
    other: KeyPair
    trusted_ca: CertifiedKey
    other_ca: CertifiedKey


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("signing-keys")
    return Keys(key_pair(directory, "trusted"), key_pair(directory, "other"),
                certified_key(directory, "ml-team"), certified_key(directory, "stranger"))


@pytest.fixture(scope="module")
def built(engine: str, pg_available: bool, keys: Keys,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Modelyard]:
    directory = tmp_path_factory.mktemp(f"signing-{engine}")
    for url in database_url_for(engine, pg_available):
        database = Database(url or sqlite_url_for(directory))
        upgrade(database)
        try:
            yield build(Settings(data_dir=directory, trusted_signers=(
                f"{keys.trusted.public},{keys.trusted_ca.ca}")), database)
        finally:
            database.dispose()


def _register(built: Modelyard, unique: str, source: Path) -> tuple[str, int]:
    """A new UC model with one version holding `source`'s files, finalized."""
    built.uc_models.create_model(ADMIN, "main", "default", unique)
    full_name = f"main.default.{unique}"
    version = built.uc_models.create_version(ADMIN, full_name, "s3://b/x", lineage=Lineage())
    target = file_uri_to_path(version.storage_location)
    shutil.copytree(source, target, dirs_exist_ok=True)
    built.uc_models.finalize_version(ADMIN, full_name, version.version)
    return full_name, version.version


def test_a_model_signed_with_a_trusted_key_is_signed(built: Modelyard, keys: Keys,
                                                     unique: str, tmp_path: Path) -> None:
    source = model_dir(tmp_path / "m")
    sign_with_key(source, keys.trusted)
    full_name, number = _register(built, unique, source)
    _, signing = built.model_signing.get(ADMIN, full_name, number)
    fingerprint = TrustedSigners.load(str(keys.trusted.public)).keys.popitem()[0]
    assert signing.signed and signing.status is SigningStatus.VERIFIED
    assert signing.signer == f"key sha256:{fingerprint}"
    assert "covers exactly the version's 2 file(s)" in signing.detail
    [audited] = events(built, "model_version.verify_signing", f"{full_name}/{number}")
    assert audited.after["signed"] is True and audited.after["signer"] == signing.signer

    # A policy that asks for it lets @champion move.
    built.policies.create(ADMIN, f"p-{unique}", full_name, "champion", None, "signed = 'true'")
    built.uc_models.set_alias(ADMIN, full_name, "champion", number)
    built.policies.delete(ADMIN, f"p-{unique}")


def test_a_model_signed_with_another_key_is_not(built: Modelyard, keys: Keys, unique: str,
                                                tmp_path: Path) -> None:
    source = model_dir(tmp_path / "m")
    sign_with_key(source, keys.other)
    full_name, number = _register(built, unique, source)
    version, signing = built.model_signing.get(ADMIN, full_name, number)
    assert version.status.value == "READY"  # a verdict, not a failed registration
    assert not signing.signed and signing.status is SigningStatus.UNTRUSTED_SIGNER
    assert "not a trusted signer" in signing.detail
    built.policies.create(ADMIN, f"p-{unique}", full_name, "champion", None, "signed = 'true'")
    with pytest.raises(PolicyViolation, match=r"signed = 'true' \(signed is 'false'\)"):
        built.uc_models.set_alias(ADMIN, full_name, "champion", number)
    built.policies.delete(ADMIN, f"p-{unique}")


@pytest.mark.parametrize("change", ["changed", "added", "removed"])
def test_files_changed_after_signing_make_it_unsigned(built: Modelyard, keys: Keys,
                                                      unique: str, tmp_path: Path,
                                                      change: str) -> None:
    source = model_dir(tmp_path / "m")
    sign_with_key(source, keys.trusted)
    if change == "changed":
        (source / "data" / "weights.bin").write_bytes(b"\x02" * 64)
        expected = "'data/weights.bin' was changed after signing"
    elif change == "added":
        (source / "data" / "backdoor.pkl").write_bytes(b"evil")
        expected = "'data/backdoor.pkl' is not covered by the signature"
    else:
        (source / "data" / "weights.bin").unlink()
        expected = "'data/weights.bin' is signed but not in the version"
    full_name, number = _register(built, unique, source)
    _, signing = built.model_signing.get(ADMIN, full_name, number)
    assert not signing.signed and signing.status is SigningStatus.FILES_MISMATCH
    assert expected in signing.detail


def test_an_unsigned_model_is_not_signed_with_a_reason(built: Modelyard, unique: str,
                                                       tmp_path: Path) -> None:
    full_name, number = _register(built, unique, model_dir(tmp_path / "m"))
    _, signing = built.model_signing.get(ADMIN, full_name, number)
    assert not signing.signed and signing.status is SigningStatus.UNSIGNED
    assert "has no model.sig" in signing.detail and "model_signing sign key" in signing.detail


def test_certificates_from_a_trusted_ca(built: Modelyard, keys: Keys, unique: str,
                                        tmp_path: Path) -> None:
    good = model_dir(tmp_path / "good")
    sign_with_certificate(good, keys.trusted_ca)
    full_name, number = _register(built, unique, good)
    _, signing = built.model_signing.get(ADMIN, full_name, number)
    assert signing.signed and signing.signer == keys.trusted_ca.subject

    bad = model_dir(tmp_path / "bad")
    sign_with_certificate(bad, keys.other_ca)
    full_name, number = _register(built, unique + "b", bad)
    _, signing = built.model_signing.get(ADMIN, full_name, number)
    assert signing.status is SigningStatus.UNTRUSTED_SIGNER
    assert signing.signer == keys.other_ca.subject
    assert "does not chain to a trusted CA" in signing.detail


def test_a_broken_signature_file_is_invalid(built: Modelyard, unique: str,
                                            tmp_path: Path) -> None:
    source = model_dir(tmp_path / "m")
    (source / "model.sig").write_text("not a bundle")
    full_name, number = _register(built, unique, source)
    _, signing = built.model_signing.get(ADMIN, full_name, number)
    assert signing.status is SigningStatus.INVALID and not signing.signed


def test_trusted_signers_refuse_what_is_no_public_key(keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a private key does not belong here"):
        TrustedSigners.load(str(keys.trusted.private))
    with pytest.raises(ValueError, match="no such file or directory"):
        TrustedSigners.load(str(tmp_path / "missing.pub"))
    directory = tmp_path / "trusted"
    directory.mkdir()
    shutil.copy(keys.trusted.public, directory)
    shutil.copy(keys.trusted_ca.ca, directory)
    loaded = TrustedSigners.load(f"{directory}, {keys.other.public}")
    assert len(loaded.keys) == 2 and len(loaded.certificates) == 1


def test_verified_again_once_the_signer_is_trusted(built: Modelyard, keys: Keys, unique: str,
                                                   tmp_path: Path) -> None:
    source = model_dir(tmp_path / "m")
    sign_with_key(source, keys.other)
    full_name, number = _register(built, unique, source)
    assert built.model_signing.get(ADMIN, full_name, number)[1].status is \
        SigningStatus.UNTRUSTED_SIGNER
    # The administrator adds the key to --trusted-signers (a server started anew).
    now_trusted = ModelSigningService(built.units, built.artifacts,
                                      TrustedSigners.load(str(keys.other.public)))
    _, signing = now_trusted.verify_again(ADMIN, full_name, number)
    assert signing.signed
    assert built.model_signing.get(ADMIN, full_name, number)[1].signed
    assert len(events(built, "model_version.verify_signing", f"{full_name}/{number}")) == 2

    pending = built.uc_models.create_version(ADMIN, full_name, "s3://b/y", lineage=Lineage())
    with pytest.raises(VersionNotReady, match="only a READY version's files"):
        built.model_signing.verify_again(ADMIN, full_name, pending.version)


def test_keyless_and_malformed_bundles_are_named(keys: Keys, tmp_path: Path) -> None:
    import base64
    import json

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    service = ModelSigningService(None, None, TrustedSigners.load(  # type: ignore[arg-type]
        str(keys.trusted.public)))
    leaf = x509.load_pem_x509_certificate(keys.trusted_ca.certificate.read_bytes())
    der = leaf.public_bytes(serialization.Encoding.DER)
    keyless = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
               "verificationMaterial": {"certificate": {
                   "rawBytes": base64.b64encode(der).decode()}, "tlogEntries": []},
               "dsseEnvelope": {}}
    verdict = service.verify(json.dumps(keyless).encode(), {})
    assert verdict.status is SigningStatus.UNSUPPORTED
    assert verdict.signer == keys.trusted_ca.subject and "keyless" in verdict.detail

    source = model_dir(tmp_path / "m")
    sign_with_key(source, keys.trusted)
    bundle = json.loads((source / "model.sig").read_text())
    bundle["verificationMaterial"]["publicKey"]["hint"] = "x" * 5000
    verdict = service.verify(json.dumps(bundle).encode(), {})
    assert verdict.status is SigningStatus.INVALID and "malformed hint" in verdict.detail
    assert len(verdict.detail) < 300
