"""Databricks' signature rule for Unity Catalog versions, on the bytes of an MLmodel file.

One rule for everyone who applies it: finalize (services/model_files.check_signature) reads
MLmodel from governed storage, `import-mlflow --into-catalog` from the MLflow server before it
copies anything (services/mlflow_import.py).
"""

from __future__ import annotations

SIGNATURE_EXPLANATION = (
    "All models in the Unity Catalog must be logged with a model signature containing both "
    "input and output type specifications. See "
    "https://mlflow.org/docs/latest/model/signatures.html#how-to-log-models-with-signatures"
    " for details on how to log a model with a signature")


def signature_problem(raw: bytes | None) -> str | None:
    """What is wrong with the signature in an MLmodel file (None: nothing; `raw` None: there
    is no MLmodel file)."""
    if raw is None:
        return ("Model passed for registration did not contain any signature metadata "
                f"(no MLmodel file was uploaded). {SIGNATURE_EXPLANATION}")
    import yaml  # here: PyYAML is 20 ms of a server's start, needed by few requests

    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        return f"The MLmodel file is not valid YAML: {error}"
    signature = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(signature, dict) or (not signature.get("inputs") and not signature.get(
            "outputs")):
        return ("Model passed for registration did not contain any signature metadata. "
                f"{SIGNATURE_EXPLANATION}")
    if not signature.get("outputs"):
        return ("Model passed for registration contained a signature that includes only "
                f"inputs. {SIGNATURE_EXPLANATION}")
    if not signature.get("inputs"):
        return ("Model passed for registration contained a signature that includes only "
                f"outputs. {SIGNATURE_EXPLANATION}")
    return None
