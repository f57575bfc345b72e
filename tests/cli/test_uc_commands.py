"""`modelyard catalogs|schemas|models|versions …` against a running server, as a user types them."""

from __future__ import annotations

import os
import pickle
import subprocess
import uuid
from pathlib import Path

from tests.support import http_clients
from tests.support.server import MODELYARD, ServerProcess
from tests.support.uc_models import SIGNED_MLMODEL


def _cli(server: ServerProcess, *args: str, ok: bool = True) -> str:
    result = subprocess.run([MODELYARD, *args, "--url", server.url], capture_output=True,
                            text=True, timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin"})
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, output
    return output


def test_browse_register_download_delete(server: ServerProcess, tmp_path: Path) -> None:
    catalog = f"cli_{uuid.uuid4().hex[:8]}"
    assert "Created catalog" in _cli(server, "catalogs", "create", catalog, "--comment", "demo")
    assert catalog in _cli(server, "catalogs", "list")
    assert "demo" in _cli(server, "catalogs", "show", catalog)
    _cli(server, "schemas", "create", f"{catalog}.fraud")
    assert f"{catalog}.fraud" in _cli(server, "schemas", "list", catalog)
    assert "Created model" in _cli(server, "models", "create", f"{catalog}.fraud.detector",
                                   "--comment", "finds fraud")

    source = tmp_path / "model"
    (source / "data").mkdir(parents=True)
    (source / "MLmodel").write_text(SIGNED_MLMODEL)
    (source / "data" / "weights.bin").write_bytes(bytes(range(256)) * 4096)
    name = f"{catalog}.fraud.detector"
    assert "READY" in _cli(server, "versions", "create", name, str(source))
    http_clients.put(f"{server.url}/api/2.1/unity-catalog/models/{name}/aliases/champion",
                     json={"version_num": 1}).raise_for_status()

    listing = _cli(server, "models", "show", name)
    assert "@champion" in listing and "READY" in listing
    assert "weights.bin" in _cli(server, "versions", "show", name, "1")
    assert name in _cli(server, "models", "list", f"{catalog}.fraud")

    target = tmp_path / "downloaded"
    assert "digests verified" in _cli(server, "models", "download", f"{name}@champion",
                                      str(target))
    assert (target / "data" / "weights.bin").read_bytes() == (
        source / "data" / "weights.bin").read_bytes()
    assert (target / "MLmodel").read_text() == SIGNED_MLMODEL

    # Errors come back as UC's code and message, with exit status 1.
    assert "NOT_FOUND" in _cli(server, "models", "show", f"{catalog}.fraud.nope", ok=False)
    assert "FAILED_PRECONDITION" in _cli(server, "catalogs", "delete", catalog, "--yes",
                                         ok=False)

    _cli(server, "versions", "delete", name, "1", "--yes")
    assert "none" in _cli(server, "versions", "list", name)
    _cli(server, "models", "delete", name, "-y")
    _cli(server, "catalogs", "delete", catalog, "--force", "--yes")
    assert "CATALOG_NOT_FOUND" in _cli(server, "catalogs", "show", catalog, ok=False)


def test_download_refuses_files_that_changed(server: ServerProcess, tmp_path: Path) -> None:
    schema = f"main.cli_{uuid.uuid4().hex[:8]}"
    _cli(server, "schemas", "create", schema)
    _cli(server, "models", "create", f"{schema}.m")
    source = tmp_path / "model"
    source.mkdir()
    (source / "model.bin").write_bytes(b"original")
    (source / "MLmodel").write_text(SIGNED_MLMODEL)
    _cli(server, "versions", "create", f"{schema}.m", str(source))
    location = http_clients.get(f"{server.url}/api/2.1/unity-catalog/models/{schema}.m/versions/1"
                                ).json()["storage_location"]
    # Someone with disk access alters a READY version's file behind the registry's back.
    Path(location.removeprefix("file://"), "model.bin").write_bytes(b"tampered")
    output = _cli(server, "models", "download", f"{schema}.m/1", str(tmp_path / "out"), ok=False)
    assert "digest mismatch" in output
    assert not (tmp_path / "out" / "model.bin").exists()


def test_a_workspace_name_is_pointed_to_the_mlflow_client(server: ServerProcess) -> None:
    # `models show` reads Unity Catalog models: a one- or two-level name, as a workspace model
    # has, is refused by the server, and the CLI says where workspace models are read.
    for name in ("fraud-model", "team.fraud-model"):
        output = _cli(server, "models", "show", name, ok=False)
        assert "INVALID_ARGUMENT" in output and "three levels" in output, output
        assert (f"Workspace-registry models (such as '{name}') are read with the mlflow client "
                f"(registry URI {server.url}) or in the web UI ({server.url}/).") in output
    # The server's own answer carries no such hint: it is the CLI's.
    answer = http_clients.get(f"{server.url}/api/2.1/unity-catalog/models/fraud-model")
    assert answer.status_code == 400 and "mlflow client" not in answer.text, answer.text
    # A three-level name that does not exist gets no hint.
    output = _cli(server, "models", "show", f"main.default.nope{uuid.uuid4().hex[:6]}", ok=False)
    assert "NOT_FOUND" in output and "Workspace-registry" not in output
    assert "Unity Catalog models in all schemas" in _cli(server, "models", "list")


class RunsCommand:
    """A pickle that would run a command when loaded (written here, never loaded)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def test_versions_create_says_when_the_scan_finds_the_model_unsafe(
        server: ServerProcess, tmp_path: Path) -> None:
    schema = f"main.cli_{uuid.uuid4().hex[:8]}"
    _cli(server, "schemas", "create", schema)
    name = f"{schema}.m"
    _cli(server, "models", "create", name)
    unsafe = tmp_path / "unsafe"
    unsafe.mkdir()
    (unsafe / "MLmodel").write_text(SIGNED_MLMODEL)
    (unsafe / "model.pkl").write_bytes(pickle.dumps(RunsCommand()))
    # --scan-mode flag (the default): READY, and the verdict with the command that shows it.
    output = _cli(server, "versions", "create", name, str(unsafe))
    assert output.startswith(f"Registered {name} version 1 (READY, root digest "), output
    assert output.rstrip().endswith(
        f"…); scan UNSAFE (1 CRITICAL): modelyard versions scan {name} 1 --stored"), output
    # This server trusts no signer: an unsigned version is not worth a word.
    assert "signing" not in output
    assert "posix.system" in _cli(server, "versions", "scan", name, "1", "--stored", ok=False)

    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "MLmodel").write_text(SIGNED_MLMODEL)
    (clean / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    output = _cli(server, "versions", "create", name, str(clean))
    assert output.rstrip().endswith("…)") and "scan" not in output, output
