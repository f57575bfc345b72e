"""What every client command shares: --url and --token anywhere on the line, the variables,
and asking before a destructive change."""

from __future__ import annotations

import uuid

import pytest

from tests.support import http_clients
from tests.support.cli import run_cli
from tests.support.server import ServerProcess, free_port

UC = "/api/2.1/unity-catalog"


@pytest.mark.parametrize("where", ["before", "group", "after", "variable"])
def test_url_is_taken_wherever_it_is_given(server: ServerProcess, where: str) -> None:
    catalog = f"cli_{where}_{uuid.uuid4().hex[:6]}"
    args = ["catalogs", "create", catalog]
    if where == "before":
        result = run_cli("--url", server.url, *args)
    elif where == "group":
        result = run_cli("catalogs", "--url", server.url, "create", catalog)
    elif where == "after":
        result = run_cli(*args, url=server.url)
    else:
        result = run_cli(*args, env={"MODELYARD_URL": server.url})
    assert f"Created catalog {catalog}" in result.stdout
    with http_clients.Client(base_url=server.url + UC) as uc:
        assert uc.get(f"/catalogs/{catalog}").status_code == 200


def test_the_flag_typed_wins_over_the_variable(server: ServerProcess) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    listed = run_cli("--url", server.url, "catalogs", "list", env={"MODELYARD_URL": nowhere})
    assert "main" in listed.stdout
    # The last one typed wins, so a command's own --url overrides the group's.
    refused = run_cli("--url", server.url, "catalogs", "list", "--url", nowhere, ok=False)
    assert f"cannot reach {nowhere}" in refused.stderr


def test_deletes_ask_first_unless_yes(server: ServerProcess) -> None:
    schema = f"main.cli_{uuid.uuid4().hex[:8]}"
    name = f"{schema}.m"
    run_cli("schemas", "create", schema, url=server.url)
    run_cli("models", "create", name, url=server.url)

    with http_clients.Client(base_url=server.url + UC) as uc:
        # A script without --yes: stdin at its end means no.
        kept = run_cli("models", "delete", name, url=server.url, ok=False)
        assert f"Delete model {name} with all its versions" in kept.stderr
        assert "nothing was changed (add --yes" in kept.stderr
        assert uc.get(f"/models/{name}").status_code == 200
        run_cli("models", "delete", name, url=server.url, stdin="n\n", ok=False)
        assert uc.get(f"/models/{name}").status_code == 200
        run_cli("models", "delete", name, url=server.url, stdin="y\n")
        assert uc.get(f"/models/{name}").status_code == 404

        run_cli("schemas", "delete", schema, url=server.url, ok=False)
        assert uc.get(f"/schemas/{schema}").status_code == 200
        run_cli("schemas", "delete", schema, "--yes", url=server.url)
        assert uc.get(f"/schemas/{schema}").status_code == 404
