"""`modelyard aliases set|show|delete NAME@ALIAS` on both registries, against a real server."""

from __future__ import annotations

import uuid
from pathlib import Path

from mlflow import MlflowClient

from tests.support import http_clients
from tests.support.cli import run_cli
from tests.support.server import ServerProcess

UC = "/api/2.1/unity-catalog"
MLMODEL = """flavors: {}
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: '[{"type": "double", "required": true}]'
"""


def _workspace_model(server: ServerProcess, versions: int = 2) -> str:
    name = f"cli-alias-{uuid.uuid4().hex[:8]}"
    registry = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    registry.create_registered_model(name)
    for number in range(versions):
        registry.create_model_version(name, f"s3://bucket/{name}/{number}")
    return name


def test_workspace_aliases_set_move_show_and_delete(server: ServerProcess) -> None:
    name = _workspace_model(server)
    registry = MlflowClient(tracking_uri=server.url, registry_uri=server.url)

    out = run_cli("aliases", "set", f"{name}@champion", "1", url=server.url).stdout
    assert "created, → version 1" in out and "workspace registry" in out
    assert registry.get_model_version_by_alias(name, "champion").version == "1"
    moved = run_cli("aliases", "set", f"{name}@champion", "2", url=server.url).stdout
    assert "moved: version 1 → version 2" in moved
    assert registry.get_model_version_by_alias(name, "champion").version == "2"
    assert run_cli("aliases", "show", f"{name}@champion", url=server.url).stdout.strip() == "2"

    # No version 9: the server's own message, nothing changed.
    refused = run_cli("aliases", "set", f"{name}@champion", "9", url=server.url, ok=False)
    assert "RESOURCE_DOES_NOT_EXIST" in refused.stderr and "version=9" in refused.stderr
    assert registry.get_model_version_by_alias(name, "champion").version == "2"

    # Deleting asks; a script without --yes (stdin at its end) changes nothing.
    kept = run_cli("aliases", "delete", f"{name}@champion", url=server.url, ok=False)
    assert "Delete @champion" in kept.stderr and "--yes" in kept.stderr
    assert registry.get_model_version_by_alias(name, "champion").version == "2"
    declined = run_cli("aliases", "delete", f"{name}@champion", url=server.url, stdin="n\n",
                       ok=False)
    assert "nothing was changed" in declined.stderr
    answered = run_cli("aliases", "delete", f"{name}@champion", url=server.url, stdin="y\n")
    assert "it pointed to version 2" in answered.stdout
    assert registry.get_registered_model(name).aliases == {}

    run_cli("aliases", "set", f"{name}@b", "1", url=server.url)
    run_cli("aliases", "delete", f"{name}@b", "--yes", url=server.url)
    missing = run_cli("aliases", "delete", f"{name}@b", "--yes", url=server.url, ok=False)
    assert f"{name}@b does not exist in the workspace registry" in missing.stderr


def test_unity_catalog_alias_then_download_as_the_readme_shows(server: ServerProcess,
                                                                tmp_path: Path) -> None:
    schema = f"main.cli_{uuid.uuid4().hex[:8]}"
    name = f"{schema}.detector"
    run_cli("schemas", "create", schema, url=server.url)
    run_cli("models", "create", name, url=server.url)
    source = tmp_path / "model"
    source.mkdir()
    (source / "MLmodel").write_text(MLMODEL)
    (source / "weights.bin").write_bytes(b"w" * 1000)
    run_cli("versions", "create", name, str(source), url=server.url)

    out = run_cli("aliases", "set", f"{name}@champion", "1", url=server.url).stdout
    assert "Unity Catalog" in out and "created, → version 1" in out
    with http_clients.Client(base_url=server.url + UC) as uc:
        assert uc.get(f"/models/{name}/aliases/champion").json()["version"] == 1
    downloaded = run_cli("models", "download", f"{name}@champion", str(tmp_path / "out"),
                         url=server.url)
    assert "digests verified" in downloaded.stdout
    assert (tmp_path / "out" / "weights.bin").read_bytes() == b"w" * 1000

    refused = run_cli("aliases", "set", f"{name}@champion", "7", url=server.url, ok=False)
    assert "NOT_FOUND" in refused.stderr
    run_cli("aliases", "delete", f"{name}@champion", "-y", url=server.url)
    with http_clients.Client(base_url=server.url + UC) as uc:
        assert uc.get(f"/models/{name}").json().get("aliases", []) == []


def test_three_part_workspace_name_and_bad_references(server: ServerProcess) -> None:
    name = f"team.fraud.cli{uuid.uuid4().hex[:6]}"  # a workspace model whose name has two dots
    registry = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    registry.create_registered_model(name)
    registry.create_model_version(name, "s3://bucket/m")
    # Read as Unity Catalog by default: no such catalog there; the error says what to add.
    refused = run_cli("aliases", "set", f"{name}@prod", "1", url=server.url, ok=False).stderr
    assert "NOT_FOUND" in refused
    assert f"If {name} is a workspace-registry model, add --workspace" in refused
    run_cli("aliases", "set", f"{name}@prod", "1", "--workspace", url=server.url)
    assert registry.get_model_version_by_alias(name, "prod").version == "1"

    bad = run_cli("aliases", "set", "no-alias-here", "1", url=server.url, ok=None)
    assert bad.returncode == 2 and "is not NAME@ALIAS" in bad.stderr


def test_aliases_history_and_rollback(server: ServerProcess) -> None:
    name = _workspace_model(server)
    run_cli("aliases", "set", f"{name}@champion", "1", url=server.url)
    run_cli("aliases", "set", f"{name}@champion", "2", url=server.url)
    back = run_cli("aliases", "rollback", f"{name}@champion", "--reason", "v2 regressed",
                   url=server.url).stdout
    assert "rolled back to version 1" in back
    shown = run_cli("aliases", "show", f"{name}@champion", url=server.url).stdout
    assert shown.strip() == "1"
    table = run_cli("aliases", "history", f"{name}@champion", url=server.url).stdout
    lines = [line for line in table.splitlines() if "v2 regressed" in line or " 2 " in line]
    assert "v2 regressed" in lines[0], table
    assert table.index("v2 regressed") < table.rindex("admin")  # newest first
    none = run_cli("aliases", "rollback", f"{name}@shadow", url=server.url, ok=False)
    assert none.returncode == 1 and "no previous target" in none.stderr
