"""The sandbox interface: one approved script in, one result out.

The result is shaped like E2B's `Execution` (logs, results with png/html/text, an error with
name/value/traceback) so the local and cloud backends are interchangeable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol


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

    @property
    def succeeded(self) -> bool:
        return self.error is None and not self.timed_out

    def as_dict(self) -> dict:
        return asdict(self)


class Sandbox(Protocol):
    name: str

    def run(self, *, code: str, datasets: list[DatasetMount], limits: Limits) -> SandboxResult: ...
