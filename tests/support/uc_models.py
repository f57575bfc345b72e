"""Small real MLflow models for the Unity Catalog tests, and uploads through signed URLs."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo

from tests.support import http_clients


class AddN(mlflow.pyfunc.PythonModel):
    """A tiny real model: adds `n` to every input value."""

    def __init__(self, n: int) -> None:
        self.n = n

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input.apply(lambda column: column + self.n)


#: The smallest MLmodel a Unity Catalog version may be finalized with (Databricks' rule: a
#: signature with inputs and outputs; services/signatures.py).
SIGNED_MLMODEL = (
    "flavors: {}\n"
    "signature:\n"
    "  inputs: '[{\"type\": \"long\", \"name\": \"x\"}]'\n"
    "  outputs: '[{\"type\": \"long\", \"name\": \"x\"}]'\n")


#: Named, so that mlflow does not infer them: inferring runs the model in a subprocess (several
#: seconds a model on the 2-core CI machine). Nothing of Modelyard reads requirements.txt.
REQUIREMENTS = ["mlflow"]


def signature() -> ModelSignature:
    frame = pd.DataFrame({"x": [1, 2, 3]})
    return infer_signature(frame, frame + 1)


def predict(uri: str) -> list[int]:
    frame = pd.DataFrame({"x": [1, 2, 3]})
    result: list[int] = mlflow.pyfunc.load_model(uri).predict(frame)["x"].tolist()
    return result


def log_model(n: int, registered_model_name: str | None = None,
              with_signature: bool = True) -> ModelInfo:
    with mlflow.start_run():
        return mlflow.pyfunc.log_model(
            name="model", python_model=AddN(n),
            signature=signature() if with_signature else None,
            registered_model_name=registered_model_name, pip_requirements=REQUIREMENTS)


def model_dir(tmp: Path, n: int, with_signature: bool = True) -> Path:
    """A saved model directory, without any registry."""
    path = tmp / f"model-{n}-{uuid.uuid4().hex[:6]}"
    mlflow.pyfunc.save_model(str(path), python_model=AddN(n),
                             signature=signature() if with_signature else None,
                             pip_requirements=REQUIREMENTS)
    return path


def fs_prefix(full_name: str, version: str | int) -> str:
    catalog, schema, model = full_name.split(".")
    return f"/Models/{catalog}/{schema}/{model}/{version}"


def upload_dir(http: httpx.Client, full_name: str, version: str | int, directory: Path) -> None:
    """Upload every file as the databricks-uc client does: a signed URL per file, then a PUT
    without any Authorization header."""
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = file.relative_to(directory).as_posix()
        answer = http.post("/api/2.0/fs/create-upload-url",
                           json={"path": f"{fs_prefix(full_name, version)}/{relative}"})
        assert answer.status_code == 200, answer.text
        put = http_clients.put(answer.json()["url"], content=file.read_bytes(), timeout=120)
        assert put.status_code == 200, put.text


def create_pending_version(http: httpx.Client, full_name: str,
                           source: str = "s3://elsewhere/model") -> str:
    api = "/api/2.0/mlflow/unity-catalog"
    created = http.post(f"{api}/registered-models/create", json={"name": full_name})
    assert created.status_code in (200, 400), created.text
    answer = http.post(f"{api}/model-versions/create", json={"name": full_name, "source": source})
    assert answer.status_code == 200, answer.text
    version: str = answer.json()["model_version"]["version"]
    return version


def finalize(http: httpx.Client, full_name: str, version: str | int) -> httpx.Response:
    return http.post("/api/2.0/mlflow/unity-catalog/model-versions/finalize",
                     json={"name": full_name, "version": str(version)}, timeout=600)
