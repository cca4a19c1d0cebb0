"""Where a path literal points, and whether the code may read or write there."""

from __future__ import annotations

import posixpath
import re

READ_ROOTS = ("/data/", "/output/", "/tmp/")
WRITE_ROOTS = ("/output/",)
SCRATCH = "/tmp"  # the sandbox's working directory: relative paths land here
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# A string that is plainly a path even where the check does not know the function it is given to.
PATH_LIKE = re.compile(r"^(/|~|\.\.?/)\S+$")


def path_verdict(path: str, *, write: bool, what: str) -> tuple[str, str] | None:
    """(rule, message) when `what` may not read or write `path`; None when it may."""
    if URL.match(path):
        return "network", f"{what} fetches {path[:80]} over the network."
    resolved = resolve(path)
    if write and not resolved.startswith(WRITE_ROOTS):
        return "write-outside-output", f"{what} writes {path}, outside /output."
    if not write and not resolved.startswith(READ_ROOTS):
        return "read-outside-data", f"{what} reads {path}, outside /data."
    return None


def resolve(path: str) -> str:
    """The absolute, normalised path with a trailing slash (so "/output" is under "/output/")."""
    return posixpath.normpath(posixpath.join(SCRATCH, path)) + "/"


def join(left: str | None, right: str | None) -> str | None:
    if left is None or right is None:
        return None
    return posixpath.join(left, right)


def looks_like_path(text: str) -> bool:
    return bool(URL.match(text) or PATH_LIKE.match(text))


def fstring_prefix(values: list) -> str | None:
    """f"/output/{name}.csv": the fixed directory before the first placeholder decides, as "/output/x"."""
    head = values[0] if values else None
    text = getattr(head, "value", None)
    if isinstance(text, str) and "/" in text[1:]:
        return text.rsplit("/", 1)[0] + "/x"
    return None
