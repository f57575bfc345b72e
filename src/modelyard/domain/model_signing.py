"""Model signing (issue 20, item 4): what the registry concluded about a version's `model.sig`.

Not to be confused with the MLmodel's *schema* signature (`has_signature`, services/signatures):
this is a cryptographic signature made on the user's side with the OpenSSF `model-signing`
library, a Sigstore bundle over the SHA-256 of every file of the model directory. The registry
verifies it offline at finalize (services/model_signing.py) and keeps one `Signing` per version.

A version is `signed` only when the signature is valid, its signer is one of the trusted
signers (`--trusted-signers`) and the files it covers are exactly the version's files, with the
same digests: a file added, changed or removed after signing makes it unsigned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

#: Where a signature is looked for: the version's root, the name `model_signing sign` writes.
SIGNATURE_FILE = "model.sig"
#: A bigger "signature" is no model-signing bundle (a manifest of 100,000 files is ~15 MB).
MAX_SIGNATURE_BYTES = 32 * 1024 * 1024
#: Problems named in a result's detail before the rest are counted.
MAX_PROBLEMS_NAMED = 5


class SigningStatus(StrEnum):
    #: Valid, from a trusted signer, covering exactly the version's files: `signed` is true.
    VERIFIED = "VERIFIED"
    #: The version has no `model.sig`.
    UNSIGNED = "UNSIGNED"
    #: Made by a key or certificate that is not among the trusted signers (or none are set).
    UNTRUSTED_SIGNER = "UNTRUSTED_SIGNER"
    #: Valid and trusted, but not over exactly these files (added, changed or missing ones).
    FILES_MISMATCH = "FILES_MISMATCH"
    #: Not a model-signing bundle, or its signature does not verify.
    INVALID = "INVALID"
    #: A kind of signature the registry cannot check offline (Sigstore keyless signing, or
    #: digests other than whole-file SHA-256).
    UNSUPPORTED = "UNSUPPORTED"
    #: Verified before issue 20 item 4 existed, or the version has no files (a prompt).
    NOT_VERIFIED = "NOT_VERIFIED"


@dataclass(frozen=True, slots=True)
class Signing:
    """The verdict on one version's model signature."""

    status: SigningStatus
    #: Who signed: `key sha256:<fingerprint of the PEM public key>` or a certificate's subject;
    #: empty when unknown (no signature, or one that could not be read).
    signer: str = ""
    #: What was checked and, when not signed, why (one sentence a user can act on).
    detail: str = ""
    verified_at: int | None = None

    @property
    def signed(self) -> bool:
        return self.status is SigningStatus.VERIFIED

    def as_dict(self) -> dict[str, Any]:
        return {"signed": self.signed, "status": self.status.value, "signer": self.signer,
                "detail": self.detail, "verified_at": self.verified_at}


NOT_VERIFIED = Signing(SigningStatus.NOT_VERIFIED,
                       detail="This version's files were not checked for a model signature.")


def unsigned(trusted: int) -> Signing:
    hint = ("" if trusted else " (and this registry trusts no signer yet: see "
            "--trusted-signers)")
    return Signing(SigningStatus.UNSIGNED, detail=(
        f"The version has no {SIGNATURE_FILE}: sign the model directory with `model_signing "
        f"sign key DIR --private_key KEY --signature DIR/{SIGNATURE_FILE}` before "
        f"registering it{hint}."))


def key_fingerprint(hint: str) -> str:
    """How a key signer is named: the SHA-256 of its PEM public key (the bundle's key hint)."""
    return f"key sha256:{hint}"


def coverage_problems(signed: Mapping[str, str], files: Mapping[str, str]) -> list[str]:
    """What differs between the files a signature covers (path -> SHA-256 hex) and the
    version's files (path -> SHA-256 hex, the signature file itself left out); empty when they
    are exactly the same."""
    problems: list[str] = []
    for path in sorted(files.keys() - signed.keys()):
        problems.append(f"'{path}' is not covered by the signature (added after signing)")
    for path in sorted(signed.keys() & files.keys()):
        if signed[path].lower() != files[path].lower():
            problems.append(f"'{path}' was changed after signing")
    for path in sorted(signed.keys() - files.keys()):
        problems.append(f"'{path}' is signed but not in the version")
    return problems


def mismatch(signer: str, problems: list[str]) -> Signing:
    named = "; ".join(problems[:MAX_PROBLEMS_NAMED])
    more = len(problems) - MAX_PROBLEMS_NAMED
    if more > 0:
        named += f"; and {more} more"
    return Signing(SigningStatus.FILES_MISMATCH, signer, (
        f"The signature by {signer} is valid but does not cover exactly this version's "
        f"files: {named}. Sign the final model directory again and register it anew."))
