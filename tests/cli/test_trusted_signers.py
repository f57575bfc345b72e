"""`serve --trusted-signers` (model signing, issue 20 item 4) refuses, at start, what is not a
public key or certificate, naming the file: a private key given by mistake never serves."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.model_signing import key_pair
from tests.support.server import MODELYARD, free_port


def test_serve_refuses_a_private_key_as_trusted_signer(tmp_path: Path) -> None:
    keys = key_pair(tmp_path / "keys", "release")
    for given, message in ((keys.private, "a private key does not belong here"),
                           (tmp_path / "missing.pub", "no such file or directory")):
        result = subprocess.run([MODELYARD, "serve", "--data-dir", str(tmp_path / "data"),
                                 "--port", str(free_port()), "--trusted-signers",
                                 f"{keys.public},{given}"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert f"--trusted-signers: {given}" in result.stderr and message in result.stderr
