"""The execute worker's local copies of datasets: fetched from storage by name, kept by their SHA-256.

The sandbox mounts a local file, and storage may be a bucket or another machine's disk, so nothing opens a
dataset by its web machine's path (`FieldFile.path`):

* a copy is fetched by the dataset's storage name, streamed into a temporary file inside the cache with its
  size bounded (`SANDGATE_MAX_DATASET_MB`) and its SHA-256 taken on the way, and kept under that hash only
  when it is the expected one (recorded at upload, bound by the approval). Any other content is reported
  with its hash and never kept or mounted: the caller refuses the run (or the profile);
* a kept copy is used again only if it still hashes to its name and the object in storage is the version it
  was fetched from (its size and modification time, and the ETag in a bucket); a changed object is fetched
  again, and so refused;
* the cache is cleaned at every fetch: copies unused for `SANDGATE_DATASET_CACHE_MAX_AGE_HOURS` go, then the
  least recently used until it holds at most `SANDGATE_DATASET_CACHE_MB`, except copies used within the last
  lease (`SANDGATE_LEASE_SECONDS`: a run may be about to mount them).

Copies are read-only (0444) in a folder only the worker's user may enter (0700); the local sandbox's own uid
reaches them through its bind mounts (analysis/sandboxes/local.py), read-only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from config.filesystem import private_dir

logger = logging.getLogger(__name__)

MISSING = "missing"
_CHUNK = 1024 * 1024
_PARTIAL = ".partial-"
_VERSION = ".version"


@dataclass(frozen=True)
class LocalCopy:
    """`path` is None when storage does not hold the expected file; `sha256` is what it holds (or MISSING)."""

    path: Path | None
    sha256: str


def dataset_local_copy(*, storage, name: str, expected_sha256: str) -> LocalCopy:
    """A local, verified copy of the object `name` in `storage`, expected to hash to `expected_sha256`."""
    cache = Path(settings.SANDGATE_DATASET_CACHE_DIR)
    private_dir(cache)
    try:
        version = _stored_version(storage, name)
    except (FileNotFoundError, OSError) as exc:
        logger.warning("dataset %s is not in storage: %s", name, exc)
        return LocalCopy(None, MISSING)
    kept = cache / expected_sha256
    marker = cache / f"{expected_sha256}.{hashlib.sha256(name.encode()).hexdigest()[:24]}{_VERSION}"
    if _still_valid(kept, marker, version, expected_sha256):
        os.utime(kept)  # its last use, for the cleaning
        return LocalCopy(kept, expected_sha256)
    fetched, sha256 = _fetch(storage, name, cache)
    if sha256 != expected_sha256:
        if fetched is not None:
            fetched.unlink(missing_ok=True)
        return LocalCopy(None, sha256)
    fetched.chmod(0o444)
    os.replace(fetched, kept)  # atomic: another worker process never sees half a file
    _write_atomically(marker, version)
    dataset_cache_clean(cache=cache)
    return LocalCopy(kept, expected_sha256)


def _still_valid(kept: Path, marker: Path, version: str, expected_sha256: str) -> bool:
    try:
        if marker.read_text() != version:
            return False
        with kept.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest() == expected_sha256
    except FileNotFoundError:
        return False


def _stored_version(storage, name: str) -> str:
    """What identifies the object's current content without reading it: one HEAD request in a bucket."""
    if hasattr(storage, "bucket_name"):  # django-storages' S3 backend
        from botocore.exceptions import ClientError

        try:
            head = storage.connection.meta.client.head_object(
                Bucket=storage.bucket_name, Key=storage._normalize_name(name)
            )
        except ClientError as exc:
            raise FileNotFoundError(name) from exc
        return f"{head['ContentLength']}:{head['LastModified'].isoformat()}:{head.get('ETag', '')}"
    return f"{storage.size(name)}:{storage.get_modified_time(name).isoformat()}"


def _fetch(storage, name: str, cache: Path) -> tuple[Path | None, str]:
    """Stream the object into a temporary file of the cache; (its path, its SHA-256) or (None, why not)."""
    limit = settings.SANDGATE_MAX_DATASET_MB * 1024 * 1024
    partial = cache / f"{_PARTIAL}{os.getpid()}-{time.monotonic_ns()}"
    digest, size = hashlib.sha256(), 0
    try:
        with _open_stream(storage, name) as source, partial.open("wb") as target:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > limit:  # a stored object larger than any upload: not ours
                    partial.unlink(missing_ok=True)
                    return None, f"larger than {settings.SANDGATE_MAX_DATASET_MB} MB"
                digest.update(chunk)
                target.write(chunk)
    except FileNotFoundError:
        partial.unlink(missing_ok=True)
        return None, MISSING
    return partial, digest.hexdigest()


def _open_stream(storage, name: str):
    """The object's bytes as a stream: in a bucket straight from the response body, never all in memory."""
    if hasattr(storage, "bucket_name"):
        from botocore.exceptions import ClientError

        try:
            body = storage.bucket.Object(storage._normalize_name(name)).get()["Body"]
        except ClientError as exc:
            raise FileNotFoundError(name) from exc
        return body
    return storage.open(name, "rb")


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f"{_PARTIAL}{os.getpid()}-{time.monotonic_ns()}")
    partial.write_text(text)
    os.replace(partial, path)


def dataset_cache_clean(*, cache: Path | None = None, now: float | None = None) -> int:
    """Remove copies unused too long, then the least recently used beyond the size; returns how many went.

    Copies used within the last lease stay whatever the size: a run may be about to mount one.
    """
    cache = Path(cache or settings.SANDGATE_DATASET_CACHE_DIR)
    now = now or time.time()
    max_age = settings.SANDGATE_DATASET_CACHE_MAX_AGE_HOURS * 3600
    protected = settings.SANDGATE_LEASE_SECONDS
    copies, removed = [], 0
    for entry in _entries(cache):
        age = now - entry.stat().st_mtime
        if entry.name.startswith(_PARTIAL):
            if age > protected:  # left by a worker that died mid-fetch
                removed += _remove(entry)
        elif entry.name.endswith(_VERSION):
            if not (cache / entry.name.split(".", 1)[0]).exists():  # its copy went
                removed += _remove(entry)
        elif age > max_age:
            removed += _remove_copy(entry)
        else:
            copies.append((entry.stat().st_mtime, entry.stat().st_size, entry))
    total = sum(size for _, size, _ in copies)
    budget = settings.SANDGATE_DATASET_CACHE_MB * 1024 * 1024
    for used, size, entry in sorted(copies, key=lambda copy: copy[0]):  # least recently used first
        if total <= budget:
            break
        if now - used <= protected:
            continue
        removed += _remove_copy(entry)
        total -= size
    return removed


def _entries(cache: Path) -> list[Path]:
    try:
        return [entry for entry in cache.iterdir() if entry.is_file()]
    except FileNotFoundError:
        return []


def _remove_copy(copy: Path) -> int:
    """The copy and the version markers of the objects it was fetched from."""
    markers = sum(_remove(marker) for marker in copy.parent.glob(f"{copy.name}.*{_VERSION}"))
    return _remove(copy) + markers


def _remove(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:  # another worker process cleaned it first
        return 0
    return 1
