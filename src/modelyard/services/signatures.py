"""Databricks' rule for Unity Catalog model versions: the MLmodel file must carry a signature
with inputs and outputs.

Checked by UcModelService at every finalize (UC REST 2.1, the Databricks dialect, copies from
the workspace registry, the CLI), so that one catalog has one rule whichever client registers
the version; `serve --no-uc-require-signature` turns it off for the whole metastore.
"""

from __future__ import annotations

from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.storage.base import ArtifactStore

SIGNATURE_EXPLANATION = (
    "All models in the Unity Catalog must be logged with a model signature containing both "
    "input and output type specifications. See "
    "https://mlflow.org/docs/latest/model/signatures.html#how-to-log-models-with-signatures"
    " for details on how to log a model with a signature")


class SignatureMissing(InvalidArgument):
    """A UC model version without a signature with inputs and outputs (Databricks' rule)."""


def check_signature(store: ArtifactStore, location: str) -> None:
    """Raise SignatureMissing unless the MLmodel file at `location` carries a signature with
    inputs and outputs (the message is the one the databricks-uc client gives)."""
    try:
        raw = b"".join(store.read_stream(location, "MLmodel"))
    except NotFound:
        raise SignatureMissing(
            "Model passed for registration did not contain any signature metadata "
            f"(no MLmodel file was uploaded). {SIGNATURE_EXPLANATION}") from None
    import yaml  # here: PyYAML is 20 ms of a server's start, needed by few requests

    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise SignatureMissing(f"The MLmodel file is not valid YAML: {error}") from None
    signature = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(signature, dict) or (not signature.get("inputs") and not signature.get(
            "outputs")):
        raise SignatureMissing(
            "Model passed for registration did not contain any signature metadata. "
            f"{SIGNATURE_EXPLANATION}")
    if not signature.get("outputs"):
        raise SignatureMissing(
            "Model passed for registration contained a signature that includes only inputs. "
            f"{SIGNATURE_EXPLANATION}")
    if not signature.get("inputs"):
        raise SignatureMissing(
            "Model passed for registration contained a signature that includes only outputs. "
            f"{SIGNATURE_EXPLANATION}")
