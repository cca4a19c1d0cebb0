"""Where the audit chain's heads are written outside the database, and read back by `audit_verify`.

Always an append-only file (`AUDIT_HEAD_FILE`); with `AUDIT_HEAD_BUCKET` set, also one object per head in
that bucket (same endpoint and keys as the storage: `AWS_S3_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, …), under
`AUDIT_HEAD_BUCKET_PREFIX`. An object is never rewritten (a head is written under a new name every time),
so the anchors outlive the machine that wrote the file; turn on the bucket's object lock or versioning to
keep whoever holds the keys from deleting them.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile


def anchor_write(anchor: dict) -> None:
    path = Path(settings.AUDIT_HEAD_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(anchor, sort_keys=True)
    with path.open("a", encoding="utf-8") as heads:  # append mode: earlier lines are never rewritten
        heads.write(line + "\n")
    if settings.AUDIT_HEAD_BUCKET:
        stamp = "".join(c for c in anchor["at"] if c.isdigit())
        _bucket().save(f"{anchor['position']:020d}-{stamp}.json", ContentFile(line.encode("ascii")))


def anchors_read(*, head_file: Path) -> list[dict]:
    """Every head written: the file's lines, then the bucket's objects (both, when both are kept)."""
    anchors = []
    if head_file.exists():
        lines = head_file.read_text(encoding="utf-8").splitlines()
        anchors += [json.loads(line) for line in lines if line.strip()]
    if settings.AUDIT_HEAD_BUCKET:
        bucket = _bucket()
        for name in sorted(bucket.listdir("")[1]):
            with bucket.open(name, "rb") as fh:
                anchors.append(json.loads(fh.read()))
    return anchors


def _bucket():
    from storages.backends.s3 import S3Storage

    return S3Storage(
        bucket_name=settings.AUDIT_HEAD_BUCKET,
        location=settings.AUDIT_HEAD_BUCKET_PREFIX.strip("/"),
        file_overwrite=False,
    )
