"""The "Load this model" snippets: code that runs when pasted alone into a fresh Python.

Each sets what the mlflow client needs to find this server: the registry URI (and, for Unity
Catalog, the `databricks-uc` environment), the tracking server when the files live there, and
says where the token goes when the server asks for one.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

#: Sources whose files only a tracking server can hand out.
_TRACKING_SCHEMES = ("runs", "mlflow-artifacts")


def _text(value: str) -> str:
    """A Python string literal for any name (JSON's quoting is valid Python)."""
    return json.dumps(value, ensure_ascii=False)


def server_url(base_url: str) -> str:
    """This server's address as the browser reached it (no trailing slash)."""
    return base_url.rstrip("/")


def _needs_tracking(source: str | None) -> bool:
    parts = urlsplit(source or "")
    return parts.scheme in _TRACKING_SCHEMES or (
        parts.scheme == "models" and parts.path.strip("/").startswith("m-"))


def workspace(uri: str, server: str, source: str | None, tracking_uri: str,
              auth: bool) -> str:
    """Loading a workspace-registry version with the mlflow client."""
    lines = ["import mlflow", ""]
    if auth:
        lines += ["# This server asks for a token: export MLFLOW_TRACKING_TOKEN=<token> first",
                  "# (`modelyard tokens create` prints one)."]
    if _needs_tracking(source):
        if tracking_uri:
            lines.append(f"mlflow.set_tracking_uri({_text(tracking_uri)})  # where the files are")
        else:
            lines.append("# The files are in the MLflow tracking server the run was logged to:"
                         )
            lines.append('# mlflow.set_tracking_uri("http://…")')
    lines += [f"mlflow.set_registry_uri({_text(server)})",
              f"model = mlflow.pyfunc.load_model({_text(uri)})"]
    return "\n".join(lines)


def unity_catalog(uri: str, server: str, auth: bool) -> str:
    """Loading a Unity Catalog version the Databricks way (`databricks-uc`): the files come
    through this server's signed URLs, whatever the storage."""
    token = ('os.environ.setdefault("DATABRICKS_TOKEN", "<token: modelyard tokens create>")'
             if auth else
             'os.environ["DATABRICKS_TOKEN"] = "unused"  # this server does not check tokens')
    return "\n".join([
        "import os",
        "",
        "import mlflow",
        "",
        f'os.environ["DATABRICKS_HOST"] = {_text(server)}',
        token,
        'mlflow.set_registry_uri("databricks-uc")',
        f"model = mlflow.pyfunc.load_model({_text(uri)})",
    ])


def prompt(uri: str, server: str, auth: bool) -> str:
    """Loading a prompt version with mlflow.genai."""
    lines = ["import mlflow", ""]
    if auth:
        lines.append("# This server asks for a token: export MLFLOW_TRACKING_TOKEN=<token> first.")
    lines += [f"mlflow.set_registry_uri({_text(server)})",
              f"prompt = mlflow.genai.load_prompt({_text(uri)})",
              "print(prompt.template)"]
    return "\n".join(lines)
