"""Files other local users must not read: var/ and the media folders 0700, the SQLite database 0600.

Applied when the settings load, in every process (web, worker, management commands), before anything
writes there. Only what this process's user owns is changed: a deployment that prepared its folders as
another user keeps its own modes.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _chmod_if_mine(path, 0o700)


def private_file(path: Path) -> None:
    """Create `path` empty (SQLite opens an empty file as a new database) or tighten it, 0600 either way.

    SQLite gives its journal and WAL files the mode of the database file, so they are 0600 too.
    """
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    _chmod_if_mine(path, 0o600)


def _chmod_if_mine(path: Path, mode: int) -> None:
    status = path.stat()
    if status.st_uid == os.geteuid() and status.st_mode & 0o777 != mode:
        path.chmod(mode)
