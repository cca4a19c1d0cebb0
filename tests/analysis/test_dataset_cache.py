"""The execute worker's local copies of datasets: fetched by storage name (a bucket of moto's S3 server, or
the disk), verified by SHA-256, re-checked against storage, cleaned by age and size."""

import hashlib
import os
import stat
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from analysis.dataset_cache import MISSING, dataset_cache_clean, dataset_local_copy

CONTENT = b"city,visits\nLyon,3\nNantes,5\n"
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture(params=["disk", "bucket"])
def storage(request, settings):
    """Sandgate's default storage: the local disk (embedded default) or a bucket of the local S3 server."""
    if request.param == "bucket":
        request.getfixturevalue("bucket")
    return default_storage


def stored(storage, content: bytes = CONTENT, name: str = "datasets/t/d/visits.csv") -> str:
    return storage.save(name, ContentFile(content))


def copy_of(storage, name: str, sha: str = SHA):
    return dataset_local_copy(storage=storage, name=name, expected_sha256=sha)


def test_a_dataset_is_fetched_by_its_storage_name_into_a_read_only_copy_named_by_its_hash(storage, settings):
    name = stored(storage)
    copy = copy_of(storage, name)
    assert copy.path == settings.SANDGATE_DATASET_CACHE_DIR / SHA and copy.sha256 == SHA
    assert copy.path.read_bytes() == CONTENT
    assert stat.S_IMODE(copy.path.stat().st_mode) == 0o444
    assert stat.S_IMODE(settings.SANDGATE_DATASET_CACHE_DIR.stat().st_mode) == 0o700


def test_a_kept_copy_is_used_again_while_the_stored_object_is_unchanged(storage):
    name = stored(storage)
    first = copy_of(storage, name)
    inode = first.path.stat().st_ino
    again = copy_of(storage, name)
    assert again.path == first.path and again.path.stat().st_ino == inode  # not fetched again


def test_an_object_changed_in_storage_is_refused_even_with_a_copy_kept(storage, settings):
    name = stored(storage)
    assert copy_of(storage, name).path is not None
    storage.delete(name)
    assert stored(storage, CONTENT.replace(b"Lyon", b"Lens"), name=name) == name

    copy = copy_of(storage, name)

    assert copy.path is None
    assert copy.sha256 == hashlib.sha256(CONTENT.replace(b"Lyon", b"Lens")).hexdigest()
    # The kept copy still holds the approved bytes and nothing else was kept.
    assert sorted(
        p.name for p in settings.SANDGATE_DATASET_CACHE_DIR.iterdir() if ".version" not in p.name
    ) == [SHA]


def test_a_kept_copy_changed_on_the_worker_is_fetched_again(storage):
    name = stored(storage)
    path = copy_of(storage, name).path
    path.chmod(0o644)
    path.write_bytes(b"tampered on the worker")
    copy = copy_of(storage, name)
    assert copy.path.read_bytes() == CONTENT


def test_an_object_missing_or_larger_than_any_upload_is_never_kept(storage, settings):
    assert copy_of(storage, "datasets/t/d/nothing.csv").sha256 == MISSING
    settings.SANDGATE_MAX_DATASET_MB = 1
    big = stored(storage, b"x" * (1024 * 1024 + 1), name="datasets/t/d/big.csv")
    copy = copy_of(storage, big)
    assert (copy.path, copy.sha256) == (None, "larger than 1 MB")
    assert not list(settings.SANDGATE_DATASET_CACHE_DIR.iterdir())


def test_the_cache_drops_copies_unused_too_long_and_leftovers_of_dead_fetches(settings, tmp_path):
    cache = settings.SANDGATE_DATASET_CACHE_DIR
    cache.mkdir(mode=0o700)
    old, fresh, partial = cache / ("a" * 64), cache / ("b" * 64), cache / ".partial-1-2"
    for path in (old, fresh, partial):
        path.write_bytes(b"x")
    (cache / f"{'a' * 64}.{'c' * 24}.version").write_text("1:t")
    now = time.time()
    day = settings.SANDGATE_DATASET_CACHE_MAX_AGE_HOURS * 3600
    os.utime(old, (now - day - 1, now - day - 1))
    os.utime(partial, (now - settings.SANDGATE_LEASE_SECONDS - 1,) * 2)

    assert dataset_cache_clean(now=now) == 3  # the old copy, its version marker, the partial file
    assert sorted(p.name for p in cache.iterdir()) == ["b" * 64]


def test_the_cache_keeps_its_size_dropping_the_least_recently_used_but_never_one_just_used(settings):
    settings.SANDGATE_DATASET_CACHE_MB = 1
    cache = settings.SANDGATE_DATASET_CACHE_DIR
    cache.mkdir(mode=0o700)
    now = time.time()
    lease = settings.SANDGATE_LEASE_SECONDS
    copies = [cache / (name * 64) for name in "abcd"]
    for age, path in zip((lease + 300, lease + 200, lease + 100, 1), copies, strict=True):
        path.write_bytes(b"x" * 400_000)
        os.utime(path, (now - age, now - age))

    dataset_cache_clean(now=now)

    # 1.6 MB in four copies: the two least recently used go; "d" was used a second ago and would stay anyway.
    assert sorted(p.name[0] for p in cache.iterdir()) == ["c", "d"]
    settings.SANDGATE_DATASET_CACHE_MB = 0
    dataset_cache_clean(now=now)
    assert sorted(p.name[0] for p in cache.iterdir()) == ["d"]  # above the size, but a run may mount it now
