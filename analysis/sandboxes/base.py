"""The sandbox interface: one approved script in, one result out.

The result is shaped like E2B's `Execution` (logs, results with png/html/text, an error with
name/value/traceback) so the local and cloud backends are interchangeable. What comes out of a sandbox was
produced next to the code it ran, which may have forged it, so every backend passes it through the checks
here before it becomes a `SandboxResult`: `check_results` and `check_error` (shapes, types, strings a
database can store, and sizes: a run's results are at most `results_mb` as JSON), and `accept_artifacts`
for files under /output (names, count and total-size caps).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Protocol

ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ -]{0,120}$")
TRUNCATION_MARKER = "\n[... output truncated ...]"
# The shapes of one result: a chart, a table (HTML and its text), or a value's text.
RESULT_SHAPES = (frozenset({"png"}), frozenset({"html", "text"}), frozenset({"text"}))
ERROR_KEYS = frozenset({"name", "value", "traceback"})
ERROR_NAME_CHARS = 200
_PNG_BASE64 = "iVBORw0KGgo"  # the PNG signature, base64-encoded
_MB = 1024 * 1024
# Told what the code prints as it prints it: ("stdout" or "stderr", text). The result still carries it all.
OutputSink = Callable[[str, str], None]


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
    results_mb: int = 5  # all results of one run together (charts, tables, values), as stored JSON

    @property
    def results_bytes(self) -> int:
        return self.results_mb * _MB

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


class MalformedResult(ValueError):
    """What a sandbox reported does not have the shape, types or size of a result: refused, never stored."""

    def error(self) -> dict:
        """The run's error: it ends failed, saying what was wrong."""
        value = f"the sandbox's result was refused: {self}"
        return {"name": "MalformedResult", "value": value, "traceback": ""}


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


def results_size(results: list) -> int:
    """Bytes of the results as stored and served: compact JSON, UTF-8 (as the API renders them)."""
    return len(json.dumps(results, ensure_ascii=False, separators=(",", ":")).encode())


def check_results(results: object, limits: Limits) -> list[dict]:
    """The results, if every item has one of the result shapes with storable strings and all fit the cap."""
    if not isinstance(results, list):
        raise MalformedResult(f"results are a {type(results).__name__}, not a list")
    for index, item in enumerate(results):
        if not isinstance(item, dict) or frozenset(item) not in RESULT_SHAPES:
            keys = sorted(map(str, item)) if isinstance(item, dict) else type(item).__name__
            raise MalformedResult(f"results[{index}] is not a chart, a table or a text ({keys})")
        for key, value in item.items():
            _check_text(value, f"results[{index}].{key}")
        if "png" in item and not _is_png(item["png"]):
            raise MalformedResult(f"results[{index}].png is not a base64 PNG image")
    size = results_size(results)
    if size > limits.results_bytes:
        raise MalformedResult(f"results of {size} bytes, over the limit of {limits.results_mb} MB")
    return results


def check_error(error: object, limits: Limits) -> dict | None:
    """The error, if it is None or a name/value/traceback of storable strings within their caps."""
    if error is None:
        return None
    if not isinstance(error, dict) or frozenset(error) != ERROR_KEYS:
        raise MalformedResult("the error is not a name, a value and a traceback")
    caps = {"name": ERROR_NAME_CHARS, "value": limits.output_bytes, "traceback": limits.output_bytes}
    for key, cap in caps.items():
        _check_text(error[key], f"error.{key}")
        if len(error[key]) > cap + len(TRUNCATION_MARKER):
            raise MalformedResult(f"error.{key} is longer than {cap} characters")
    return error


def cap_results(results: list[dict], limits: Limits) -> list[dict]:
    """The results that fit in `results_mb` together, in order, and a note saying how many did not."""
    kept: list[dict] = []
    room = limits.results_bytes - 256  # for the note
    size = 2  # []
    for index, item in enumerate(results):
        item_size = results_size([item]) - 1  # its own bytes and a comma
        if size + item_size > room:
            return [*kept, dropped_note(len(results) - index, limits)]
        kept.append(item)
        size += item_size
    return kept


def dropped_note(count: int, limits: Limits) -> dict:
    """As the runner's note (runner._Results.final)."""
    limit = f"{limits.results_mb} MB"
    return {"text": f"[... {count} more result(s) not kept: a run's results are limited to {limit} ...]"}


def storable(text: str) -> str:
    """Text a database can store: no NUL (PostgreSQL refuses it in text and JSON), no lone surrogate."""
    if "\0" in text:
        text = text.replace("\0", "\ufffd")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    return text


def _check_text(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise MalformedResult(f"{where} is a {type(value).__name__}, not a string")
    if "\0" in value:
        raise MalformedResult(f"{where} holds a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise MalformedResult(f"{where} holds a lone surrogate (not UTF-8)") from None


def _is_png(data: str) -> bool:
    return data.startswith(_PNG_BASE64) and _decode(data) is not None


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
        self,
        *,
        code: str,
        code_sha256: str,
        datasets: list[DatasetMount],
        limits: Limits,
        on_output: OutputSink | None = None,
    ) -> SandboxResult: ...
