"""Issue 17, item 7: a database that cannot be reached ends `serve` and `audit verify` with one
line saying which database and what failed, exit status 1, no traceback, no password."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.server import MODELYARD, free_port


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MODELYARD, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


@pytest.mark.parametrize(("url", "where", "why"), [
    (f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{free_port()}/registry",
     "the postgresql database 'registry' at 127.0.0.1:", "Connection refused"),
    ("postgresql+psycopg://postgres:s3cret@no-such-host.invalid:5432/registry",
     "at no-such-host.invalid:5432", "no-such-host.invalid"),
    ("sqlite:////nonexistent-dir/sub/modelyard.db", "the SQLite database "
     "/nonexistent-dir/sub/modelyard.db", "unable to open database file"),
    ("not a url", "--database-url", "not a SQLAlchemy URL"),
], ids=["refused", "unknown-host", "sqlite-unopenable", "not-a-url"])
def test_unusable_database_is_one_line(tmp_path: Path, url: str, where: str,
                                       why: str) -> None:
    for args in (["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"),
                  "--database-url", url],
                 ["audit", "verify", "--database-url", url]):
        done = _run(*args, cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert where in lines[0] and why in lines[0], lines[0]
        assert "Traceback" not in done.stderr and "s3cret" not in done.stderr
