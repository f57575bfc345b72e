"""The data directory of an earlier version (0755, a 0644 database) is made private at start."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.cli import data_dir


@pytest.fixture()
def restored_umask() -> Iterator[None]:
    saved = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(saved)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_open_data_dir_and_its_files_are_tightened(tmp_path: Path,
                                                      restored_umask: None) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "modelyard.db").write_bytes(b"x")
    (folder / "modelyard.db").chmod(0o644)
    (folder / "admin-token").write_text("t")
    (folder / "admin-token").chmod(0o600)
    (folder / "notes.txt").write_text("not the server's: left alone")
    (folder / "notes.txt").chmod(0o644)

    notes = data_dir.prepare(folder)

    assert os.umask(0o022) == 0o077  # what the server's later files are created with
    assert _mode(folder) == 0o700 and _mode(folder / "modelyard.db") == 0o600
    assert _mode(folder / "admin-token") == 0o600 and _mode(folder / "notes.txt") == 0o644
    assert len(notes) == 2 and all("private" in note for note in notes)
    assert data_dir.prepare(folder) == []  # nothing left to change
