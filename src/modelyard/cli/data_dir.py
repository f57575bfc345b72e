"""The data directory is the server's alone: mode 0700, every file in it 0600.

It holds the SQLite database (and its -wal and -shm files: token and password hashes, audit
trail; and its -write.lock, which anyone who could open it could hold to stop every write),
the key that encrypts the secrets in the database, and the admin's token. `serve` sets
the umask to 077 before it creates anything, so every file and directory the server (and its
worker processes, which inherit the umask) creates is readable by its owner only: the
database, the artifacts of the local store, the key file. A data directory (or one of those
files) left readable to others by an earlier version is tightened at start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
#: The files the server keeps in the data directory itself.
OWN_FILES = ("modelyard.db", "modelyard.db-wal", "modelyard.db-shm", "modelyard.db-write.lock",
             "admin-token", "secret-key")


def prepare(data_dir: Path) -> list[str]:
    """Set the process umask, create the data directory 0700 and make it and the server's own
    files in it private; returns what it changed or could not change, to tell the operator."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    notes = []
    for path, mode in [(data_dir, 0o700), *((data_dir / name, 0o600) for name in OWN_FILES)]:
        try:
            current = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if current & 0o077:
            try:
                path.chmod(current & ~0o077 & 0o7777 or mode)
            except PermissionError:
                notes.append(f"{path} is open to other users (mode {current:o}) and this user "
                             f"cannot change that: run `chmod go= {path}`.")
                continue
            notes.append(f"Made {path} private (mode {current:o} -> "
                         f"{stat.S_IMODE(path.stat().st_mode):o}).")
    return notes
