"""Keys, certificates and signed model directories for the model-signing tests (issue 20 item 4):
signatures made the way a user makes them, with the OpenSSF `model_signing` library's API."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.uc_models import SIGNED_MLMODEL


@dataclass(frozen=True)
class KeyPair:
    private: Path  # PEM, unencrypted
    public: Path  # PEM SubjectPublicKeyInfo: what --trusted-signers takes


def key_pair(directory: Path, name: str) -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(private, public)


@dataclass(frozen=True)
class CertifiedKey:
    private: Path
    certificate: Path  # the signing certificate, issued by `ca`
    ca: Path  # the CA's self-signed certificate: what --trusted-signers takes
    subject: str


def certified_key(directory: Path, name: str) -> CertifiedKey:
    """A CA of its own, and a signing certificate (CN=<name>) it issued."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Modelyard tests"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    leaf = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CODE_SIGNING]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (directory / f"{name}.pem", directory / f"{name}.crt", directory / f"{name}-ca.crt")
    paths[0].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return CertifiedKey(*paths, subject=subject.rfc4514_string())


def model_dir(directory: Path, weights: bytes = b"\x01" * 64) -> Path:
    """A model directory as the server checks it (an MLmodel with a schema signature, so that
    the finalize rule lets it through, and a weights file)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLmodel").write_text(SIGNED_MLMODEL)
    (directory / "data").mkdir(exist_ok=True)
    (directory / "data" / "weights.bin").write_bytes(weights)
    return directory


def sign_with_key(directory: Path, key: KeyPair) -> Path:
    """`model_signing sign key DIR --private_key KEY --signature DIR/model.sig`, as Python."""
    from model_signing import signing

    signature = directory / "model.sig"
    signing.Config().use_elliptic_key_signer(private_key=key.private).sign(directory, signature)
    return signature


def sign_with_certificate(directory: Path, key: CertifiedKey) -> Path:
    """`model_signing sign certificate DIR --private_key … --signing_certificate …`."""
    from model_signing import signing

    signature = directory / "model.sig"
    signing.Config().use_certificate_signer(
        private_key=key.private, signing_certificate=key.certificate,
        certificate_chain=[key.ca]).sign(directory, signature)
    return signature
