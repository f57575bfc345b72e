"""Running the real `modelyard` command as a user types it."""

from __future__ import annotations

import os
import subprocess

from tests.support.server import MODELYARD


def run_cli(*args: str, url: str | None = None, token: str | None = None,
            stdin: str = "", ok: bool | None = True, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """`modelyard ARGS…` with `--url` appended when given, `stdin` as its input (empty: at its
    end, as in a script), MODELYARD_TOKEN set when `token` is. `ok` checks the exit status
    (None: either)."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin"), "COLUMNS": "200",
                   **(env or {})}
    if token:
        environment["MODELYARD_TOKEN"] = token
    command = [MODELYARD, *args, *(["--url", url] if url else [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, input=stdin,
                            env=environment, start_new_session=True)
    if ok is not None:
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result
