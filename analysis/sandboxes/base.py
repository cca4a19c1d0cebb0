"""The sandbox interface: one approved script in, one result out.

The result is shaped like E2B's `Execution` (logs, results with png/html/text, an error with
name/value/traceback) so the local and cloud backends are interchangeable. Files the code writes under
/output come back as artifacts; every backend passes them through `accept_artifacts`, which is where the
caps are enforced (whatever ran inside the sandbox may have forged its report).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field, fields
from typing import Protocol

ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ -]{0,120}$")


@dataclass(frozen=True)
class DatasetMount:
    """A dataset file on the host, visible read-only inside the sandbox at /data/<name>."""

    name: str
    host_path: str


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 60
    wall_seconds: int = 120
    memory_mb: int = 1024
    output_bytes: int = 1_000_000
    max_processes: int = 64
    file_size_mb: int = 64
    scratch_mb: int = 256  # the /tmp tmpfs
    artifact_count: int = 20
    artifact_mb: int = 20  # all artifacts of one run together (the /output tmpfs)

    @classmethod
    def merged(cls, *overrides: dict) -> Limits:
        """Later dicts win; unknown keys and non-positive or non-integer values are ignored."""
        known = {f.name for f in fields(cls)}
        values: dict[str, int] = {}
        for override in overrides:
            for key, value in (override or {}).items():
                if key in known and isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    values[key] = value
        return cls(**values)


@dataclass(frozen=True)
class ArtifactFile:
    name: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class SandboxResult:
    stdout: str = ""
    stderr: str = ""
    # Each item: {"png": base64} | {"html": str, "text": str} | {"text": str}
    results: list[dict] = field(default_factory=list)
    # {"name": "ZeroDivisionError", "value": "division by zero", "traceback": "..."} or None
    error: dict | None = None
    timed_out: bool = False
    duration_ms: int = 0
    # Which limits were in force, for the execution record.
    limits: dict = field(default_factory=dict)
    artifacts: list[ArtifactFile] = field(default_factory=list)
    # Files under /output that were not returned: [{"name": ..., "reason": ...}]
    skipped_artifacts: list[dict] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.error is None and not self.timed_out


class CodeIntegrityError(Exception):
    """The code about to run is not the code the reviewer approved."""


def verified_code(code: str, code_sha256: str) -> bytes:
    """The exact bytes that will run, re-hashed at the last moment against the approved SHA-256."""
    data = code.encode("utf-8")
    actual = hashlib.sha256(data).hexdigest()
    if actual != code_sha256:
        raise CodeIntegrityError(
            f"The code's SHA-256 ({actual[:12]}…) is not the approved one ({code_sha256[:12]}…); "
            "refusing to run it."
        )
    return data


def accept_artifacts(reported: object, limits: Limits) -> tuple[list[ArtifactFile], list[dict]]:
    """Validate what the sandbox says it wrote to /output: safe names, count and total-size caps."""
    accepted: list[ArtifactFile] = []
    skipped: list[dict] = []
    total = 0
    budget = limits.artifact_mb * 1024 * 1024
    for item in reported if isinstance(reported, list) else []:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not ARTIFACT_NAME.match(name):
            skipped.append({"name": str(name)[:60], "reason": "not a plain file name"})
            continue
        if "data" not in item:
            skipped.append({"name": name, "reason": str(item.get("reason", "not returned"))[:200]})
            continue
        content = _decode(item.get("data"))
        if content is None or any(a.name == name for a in accepted):
            skipped.append({"name": name, "reason": "malformed or duplicate"})
        elif len(accepted) >= limits.artifact_count:
            skipped.append({"name": name, "reason": f"more than {limits.artifact_count} files"})
        elif total + len(content) > budget:
            skipped.append({"name": name, "reason": f"artifacts over {limits.artifact_mb} MB in total"})
        else:
            total += len(content)
            accepted.append(ArtifactFile(name=name, content=content))
    return accepted, skipped


def _decode(data: object) -> bytes | None:
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


class Sandbox(Protocol):
    name: str

    def run(
        self, *, code: str, code_sha256: str, datasets: list[DatasetMount], limits: Limits
    ) -> SandboxResult: ...
