"""Databricks' rule for Unity Catalog model versions, applied at finalize: the MLmodel file in
governed storage must carry a signature with inputs and outputs (domain/mlmodel.py).

UcModelService checks it at every finalize (UC REST 2.1, the Databricks dialect, copies from
the workspace registry, the CLI), so that one catalog has one rule whichever client registers
the version; `serve --no-uc-require-signature` turns it off for the whole metastore.
"""

from __future__ import annotations

from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.domain.mlmodel import signature_problem
from modelyard.storage.base import ArtifactStore


class SignatureMissing(InvalidArgument):
    """A UC model version without a signature with inputs and outputs (Databricks' rule)."""


def check_signature(store: ArtifactStore, location: str) -> None:
    """Raise SignatureMissing unless the MLmodel file at `location` carries a signature with
    inputs and outputs (the message is the one the databricks-uc client gives)."""
    try:
        raw: bytes | None = b"".join(store.read_stream(location, "MLmodel"))
    except NotFound:
        raw = None
    problem = signature_problem(raw)
    if problem is not None:
        raise SignatureMissing(problem)
