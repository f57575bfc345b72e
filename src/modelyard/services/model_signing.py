"""Model signing (issue 20, item 4): verify a UC version's `model.sig` at finalize, offline.

Users sign a model directory on their side with the OpenSSF `model-signing` library
(`model_signing sign key DIR --private_key key.pem --signature DIR/model.sig`, or `sign
certificate`): a Sigstore bundle whose DSSE payload lists every file of the directory with its
SHA-256, signed with an elliptic-curve key or a certificate's key. The registry trusts the
public keys and CA certificates (PEM) given with `--trusted-signers`.

Verification costs no second read of the model: finalize has just computed every file's
SHA-256 (storage `digest_files`), and the signed manifest is compared with those digests. Only
`model.sig` itself is read (and checked against its own digest). The library verifies the
bundle's signature and certificate chain; the comparison with the files is ours
(domain/model_signing.coverage_problems): the signature must cover exactly the version's files.

Importing the library costs ~0.4 s (sigstore, pydantic, protobuf models): it is imported on the
first `model.sig` that there are trusted signers to check it against, never at start-up.

Not the MLmodel's schema signature (`has_signature`, services/signatures.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.domain import model_signing as domain
from modelyard.domain import names
from modelyard.domain.catalog import UcVersion, VersionNotReady, VersionStatus, full_model_name
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import ModelyardError
from modelyard.domain.model_signing import SIGNATURE_FILE, Signing, SigningStatus
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.storage.base import ArtifactStore, StoredFile
from modelyard.store.model_signing import SigningRepository

log = logging.getLogger("modelyard.model_signing")

_SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class TrustedKey:
    path: Path
    #: SHA-256 (hex) of the key's PEM SubjectPublicKeyInfo: what a model-signing bundle names
    #: its key by (`verificationMaterial.publicKey.hint`).
    fingerprint: str


@dataclass
class TrustedSigners:
    """The public keys and CA certificates `--trusted-signers` names (PEM files, or
    directories of them), read at start-up with `cryptography` only."""

    keys: dict[str, TrustedKey] = field(default_factory=dict)
    certificates: list[Path] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.keys or self.certificates)

    @property
    def count(self) -> int:
        return len(self.keys) + len(self.certificates)

    def describe(self) -> str:
        return (f"{len(self.keys)} key(s) and {len(self.certificates)} certificate file(s) "
                "configured with --trusted-signers")

    @classmethod
    def load(cls, spec: str | None) -> TrustedSigners:
        """From a comma-separated list of paths; ValueError naming the file that is wrong."""
        trusted = cls()
        for raw in (spec or "").split(","):
            if not raw.strip():
                continue
            path = Path(raw.strip()).expanduser()
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.is_file()
                               and not p.name.startswith("."))
                if not files:
                    raise ValueError(f"{path}: the directory holds no PEM file.")
            elif path.is_file():
                files = [path]
            else:
                raise ValueError(f"{path}: no such file or directory.")
            for file in files:
                trusted._add(file.resolve())
        return trusted

    def _add(self, path: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            data = path.read_bytes()
        except OSError as error:
            raise ValueError(f"{path}: cannot be read ({error.strerror}).") from None
        if b"-----BEGIN CERTIFICATE-----" in data:
            try:
                x509.load_pem_x509_certificates(data)
            except ValueError as error:
                raise ValueError(f"{path}: not a valid PEM certificate ({error}).") from None
            self.certificates.append(path)
            return
        if b"-----BEGIN PUBLIC KEY-----" not in data:
            raise ValueError(f"{path}: neither a PEM public key (-----BEGIN PUBLIC KEY-----) "
                             "nor PEM certificates; a private key does not belong here.")
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as error:
            raise ValueError(f"{path}: not a valid PEM public key ({error}).") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or \
                key.curve.name not in _SUPPORTED_CURVES:
            raise ValueError(f"{path}: model-signing signs with elliptic-curve keys (P-256, "
                             "P-384 or P-521); this key is of another kind.")
        pem = key.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        fingerprint = hashlib.sha256(pem).hexdigest()
        self.keys[fingerprint] = TrustedKey(path, fingerprint)


class _Verifiers:
    """The library's verifiers for the trusted signers, built on first use (the import)."""

    def __init__(self, trusted: TrustedSigners) -> None:
        self.trusted = trusted
        self._lock = threading.Lock()
        self._keys: dict[str, Any] | None = None
        self._certificates: Any = None
        #: The certificate verifier sets its X509Store's time to each signing certificate's
        #: start before checking the chain: one verification at a time (finalize runs in
        #: worker threads).
        self.certificate_lock = threading.Lock()

    def _build(self) -> None:
        with self._lock:
            if self._keys is not None:
                return
            from model_signing._signing import sign_certificate, sign_ec_key

            self._certificates = (sign_certificate.Verifier(self.trusted.certificates)
                                  if self.trusted.certificates else None)
            self._keys = {fp: sign_ec_key.Verifier(key.path)
                          for fp, key in self.trusted.keys.items()}

    def key(self, fingerprint: str) -> Any:
        self._build()
        assert self._keys is not None
        return self._keys.get(fingerprint)

    def all_keys(self) -> list[tuple[str, Any]]:
        self._build()
        assert self._keys is not None
        return list(self._keys.items())

    def certificates(self) -> Any:
        self._build()
        return self._certificates


class ModelSigningService:
    """Verifies model signatures at finalize and answers what was concluded."""

    def __init__(self, units: UnitOfWorkFactory, artifacts: ArtifactStore,
                 trusted: TrustedSigners | None = None) -> None:
        self.units = units
        self.artifacts = artifacts
        self.trusted = trusted or TrustedSigners()
        self._verifiers = _Verifiers(self.trusted)

    # ---- at finalize --------------------------------------------------------------------

    def verify_files(self, location: str, stored: list[StoredFile]) -> Signing:
        """The verdict on a version whose files (with their SHA-256) finalize just computed.
        Never raises for what the files hold: a bad signature is a verdict, not an error."""
        files = {f.path: f.sha256 for f in stored}
        signature = next((f for f in stored if f.path == SIGNATURE_FILE), None)
        if signature is None:
            result = domain.unsigned(self.trusted.count)
        elif signature.size > domain.MAX_SIGNATURE_BYTES:
            result = Signing(SigningStatus.INVALID, detail=(
                f"{SIGNATURE_FILE} is {signature.size} bytes: too large to be a model-signing "
                "bundle."))
        else:
            try:
                raw = b"".join(self.artifacts.read_stream(location, SIGNATURE_FILE))
            except (ModelyardError, OSError) as error:
                log.warning("model signing: %s of %s could not be read: %s", SIGNATURE_FILE,
                            location, error)
                result = Signing(SigningStatus.INVALID,
                                 detail=f"{SIGNATURE_FILE} could not be read back from storage.")
            else:
                if hashlib.sha256(raw).hexdigest() != signature.sha256:
                    result = Signing(SigningStatus.INVALID, detail=(
                        f"{SIGNATURE_FILE} changed while the version was being finalized."))
                else:
                    del files[SIGNATURE_FILE]
                    result = self.verify(raw, files)
        return Signing(result.status, result.signer, result.detail, now_ms())

    def verify(self, raw: bytes, files: Mapping[str, str]) -> Signing:
        """The verdict on signature bundle `raw` over `files` (path -> SHA-256 hex, without the
        signature file)."""
        try:
            bundle = json.loads(raw)
            material = bundle["verificationMaterial"]
            if not isinstance(material, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return Signing(SigningStatus.INVALID, detail=(
                f"{SIGNATURE_FILE} is not a Sigstore bundle made by model_signing."))
        if "publicKey" in material:
            return self._verify_key(raw, material, files)
        if "x509CertificateChain" in material:
            return self._verify_certificate(raw, material, files)
        if "certificate" in material:
            return Signing(SigningStatus.UNSUPPORTED, _subject_of(material["certificate"]), (
                "Signed with Sigstore keyless signing (a short-lived certificate from a public "
                "Sigstore instance): checking it needs that instance's trust root and "
                "transparency log, which this registry does not reach. Sign with a key "
                "(`model_signing sign key`) or a certificate (`model_signing sign "
                "certificate`) whose public key or CA is in --trusted-signers."))
        return Signing(SigningStatus.INVALID, detail=(
            f"{SIGNATURE_FILE} names neither a public key nor a certificate chain."))

    def _verify_key(self, raw: bytes, material: dict[str, Any],
                    files: Mapping[str, str]) -> Signing:
        key = material.get("publicKey")
        hint = str(key.get("hint") or "") if isinstance(key, dict) else ""
        if hint and not _HEX_SHA256.fullmatch(hint):
            return Signing(SigningStatus.INVALID, detail=(
                f"{SIGNATURE_FILE} names its key by a malformed hint (expected the SHA-256 of "
                "the PEM public key, in hex)."))
        named = domain.key_fingerprint(hint) if hint else "an unnamed key"
        if not self.trusted.keys:
            return Signing(SigningStatus.UNTRUSTED_SIGNER, named if hint else "", (
                f"Signed with {named}, but no key is trusted here: an administrator adds its "
                "public key (PEM) to --trusted-signers."))
        if hint:
            verifier = self._verifiers.key(hint)
            if verifier is None:
                return Signing(SigningStatus.UNTRUSTED_SIGNER, named, (
                    f"Signed with {named}, which is not a trusted signer "
                    f"({self.trusted.describe()})."))
            candidates = [(hint, verifier)]
        else:  # bundles of model_signing < 1.0 name no key: try each trusted one
            candidates = self._verifiers.all_keys()
        signature = _read_bundle(raw)
        if isinstance(signature, Signing):
            return signature
        failure: Exception | None = None
        for fingerprint, verifier in candidates:
            try:
                manifest = verifier.verify(signature)
            except Exception as error:  # the library raises ValueError, InvalidSignature, ...
                failure = error
                continue
            return _covering(domain.key_fingerprint(fingerprint), manifest, files)
        return Signing(SigningStatus.INVALID if hint else SigningStatus.UNTRUSTED_SIGNER,
                       named if hint else "", (
            f"The signature in {SIGNATURE_FILE} does not verify with "
            f"{named if hint else 'any trusted key'}: {_reason(failure)}."))

    def _verify_certificate(self, raw: bytes, material: dict[str, Any],
                            files: Mapping[str, str]) -> Signing:
        chain = material.get("x509CertificateChain")
        certificates = chain.get("certificates") if isinstance(chain, dict) else None
        subject = _subject_of(certificates[0] if certificates else None)
        verifier = self._verifiers.certificates() if self.trusted.certificates else None
        if verifier is None:
            return Signing(SigningStatus.UNTRUSTED_SIGNER, subject, (
                f"Signed with a certificate ({subject or 'unreadable'}), but no CA certificate "
                "is trusted here: an administrator adds the issuing CA (PEM) to "
                "--trusted-signers."))
        signature = _read_bundle(raw)
        if isinstance(signature, Signing):
            return signature
        from OpenSSL import crypto

        try:
            with self._verifiers.certificate_lock:
                manifest = verifier.verify(signature)
        except crypto.X509StoreContextError as error:
            return Signing(SigningStatus.UNTRUSTED_SIGNER, subject, (
                f"The signing certificate ({subject}) does not chain to a trusted CA "
                f"({self.trusted.describe()}): {_reason(error)}."))
        except Exception as error:
            return Signing(SigningStatus.INVALID, subject, (
                f"The signature in {SIGNATURE_FILE} does not verify with its certificate "
                f"({subject}): {_reason(error)}."))
        return _covering(subject, manifest, files)

    # ---- recording and reading ----------------------------------------------------------

    @staticmethod
    def record(uow: UnitOfWork, version_id: int, full_name: str, version: int,
               signing: Signing) -> None:
        """Store the verdict in the finalizing transaction, and audit it."""
        SigningRepository(uow.conn).put(version_id, signing)
        uow.record("model_version.verify_signing", "model_version", f"{full_name}/{version}",
                   after=signing.as_dict())

    def verify_again(self, actor: Actor, full_name: str,
                     version: int | str) -> tuple[UcVersion, Signing]:
        """Verify a READY version's signature anew against the signers trusted now (after a
        key was added to --trusted-signers, say), from the file digests recorded at finalize:
        the files of a READY version never change, so nothing but model.sig is read. Needs
        what managing the version needs (MANAGE); the new verdict replaces the old one and is
        audited."""
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        with self.units.read(actor) as uow:
            repo = uow.uc_models
            authorization.require_uc(repo.conn, actor, "model.manage", full_name)
            row = repo.version_row(full_name, number)
            found = repo.versions([row])[0]
            recorded = repo.files(row.id)
        if found.status is not VersionStatus.READY or not recorded:
            raise VersionNotReady(
                f"Model version {full_name}/{number} is {found.status.value}"
                f"{'' if recorded else ' without files'}: only a READY version's files can be "
                "verified.")
        signing = self.verify_files(found.storage_location, [
            StoredFile(f.path, f.size, f.sha256) for f in recorded])
        with self.units.write(actor, scope="uc") as uow:
            row = uow.uc_models.version_row(full_name, number, for_update=True)
            if row.uc_id != found.id:
                raise VersionNotReady(f"Model version {full_name}/{number} was replaced "
                                      "meanwhile; verify again.")
            self.record(uow, row.id, full_name, number, signing)
        return found, signing

    def get(self, actor: Actor, full_name: str, version: int | str) -> tuple[UcVersion,
                                                                               Signing]:
        """The version and the verdict on its model signature (who may read the version may
        read it)."""
        full_name = full_model_name(full_name)
        number = names.parse_version(version)
        with self.units.read(actor) as uow:
            repo = uow.uc_models
            authorization.require_uc(repo.conn, actor, "model.execute", full_name)
            row = repo.version_row(full_name, number)
            found = repo.versions([row])[0]
            signing = SigningRepository(uow.conn).get(row.id)
        return found, signing or domain.NOT_VERIFIED


def _read_bundle(raw: bytes) -> Any:
    """The library's Signature object for `raw` (it reads bundles from files only), or the
    INVALID verdict."""
    from model_signing._signing import sign_sigstore_pb

    with tempfile.TemporaryDirectory(prefix="modelyard-sig-") as directory:
        path = Path(directory) / SIGNATURE_FILE
        path.write_bytes(raw)
        try:
            return sign_sigstore_pb.Signature.read(path)
        except Exception as error:  # pydantic's ValidationError, KeyError, ...
            return Signing(SigningStatus.INVALID, detail=(
                f"{SIGNATURE_FILE} is not a valid model-signing bundle: {_reason(error)}."))


def _covering(signer: str, manifest: Any, files: Mapping[str, str]) -> Signing:
    """The verdict once the signature verified: does its manifest cover exactly `files`?"""
    serialization = manifest.serialization_type
    method = serialization.get("method")
    algorithms = {rd.digest.algorithm for rd in manifest.resource_descriptors()}
    if method != "files" or algorithms - {"sha256"}:
        return Signing(SigningStatus.UNSUPPORTED, signer, (
            f"Signed by {signer} over {method or 'unknown'} digests with "
            f"{', '.join(sorted(algorithms)) or 'no'} hashing; this registry checks signatures "
            "over whole files with SHA-256, model_signing's default (sign without "
            "--hash_type or shard options)."))
    signed = {rd.identifier: rd.digest.digest_hex for rd in manifest.resource_descriptors()}
    problems = domain.coverage_problems(signed, files)
    if problems:
        return domain.mismatch(signer, problems)
    return Signing(SigningStatus.VERIFIED, signer, (
        f"Signed by {signer}; the signature covers exactly the version's {len(files)} "
        f"file(s)."))


def _subject_of(certificate: Any) -> str:
    """The subject of a bundle's certificate (`{"rawBytes": base64 DER}`), or ""."""
    from cryptography import x509

    try:
        der = base64.b64decode(certificate["rawBytes"], validate=True)
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except (KeyError, TypeError, ValueError, binascii.Error):
        return ""


def _reason(error: Exception | None) -> str:
    text = str(error).strip() if error is not None else ""
    return text[:300] if text else type(error).__name__
