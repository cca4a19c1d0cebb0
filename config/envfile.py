"""Give `.env` a random DJANGO_SECRET_KEY on the first `make up`; never replace one that is there.

Run as a script by the Makefile (`python3 config/envfile.py .env`) before anything reads the settings, so it
uses the standard library only. The file is created, or left, with mode 0600: it holds the key.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

KEY_LINE = re.compile(r"^\s*(?:export\s+)?DJANGO_SECRET_KEY\s*=\s*(?P<value>.*?)\s*$")


def ensure_secret_key(path: Path) -> bool:
    """Write a new key into `path` unless it already sets a non-empty one. True when a key was written."""
    lines = path.read_text().splitlines() if path.exists() else []
    new_line = f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}"
    for index, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if match is None:
            continue
        if match["value"].strip("'\""):
            _make_private(path)
            return False
        lines[index] = new_line  # `DJANGO_SECRET_KEY=` left empty, e.g. copied from .env.example
        break
    else:
        lines.append(new_line)
    _write_private(path, "\n".join(lines) + "\n")
    return True


def _write_private(path: Path, text: str) -> None:
    """Write through a 0600 temporary file renamed over `path`: the key is never readable by others."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _make_private(path)


def _make_private(path: Path) -> None:
    os.chmod(path, 0o600)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
    if ensure_secret_key(target):
        print(f"Wrote a new DJANGO_SECRET_KEY into {target} (mode 0600).")
