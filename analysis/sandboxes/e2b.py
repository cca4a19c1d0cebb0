"""The E2B backend: each run in a fresh Firecracker microVM of E2B's, through the `e2b-code-interpreter` SDK.

One run is one sandbox: create it (no Internet access, a lifetime of its own as a backstop), upload the
datasets to /data/<name>, run the approved code once in its Jupyter kernel, map the kernel's output into
the same `SandboxResult` as the local backend, and kill the sandbox whatever happened. SDK errors
(a rejected key, the rate limit, timeouts, E2B being unavailable) become failed executions whose error
says what went wrong; none of them escapes to the worker.

Limits: the wall clock (`run_code`'s timeout) and the output caps are enforced here: stdout and stderr
at output_bytes, the results at results_mb together (what does not fit is left out with a note, as in the
local backend), and the error's value and traceback at output_bytes; then the results and the error pass
the same checks as the local runner's (base.check_results, check_error), so a kernel message the code
forged ends the run failed. CPU, memory, processes and disk are bounded by the template's VM size, not per
run, and the execution's limits record says so.

After the code has run, /output is listed (depth 1) through envd and its regular files are downloaded as
artifacts, under the same count and size caps as the local backend and validated by the same
`accept_artifacts`; directories and symlinks are listed as skipped, never read. A failure while collecting
them is a caveat on the run, never the loss of its output.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time

import httpx
from django.conf import settings
from e2b import (
    AuthenticationException,
    RateLimitException,
    SandboxException,
    ServiceBusyException,
    TimeoutException,
)
from e2b.exceptions import FileNotFoundException
from e2b.sandbox.filesystem.filesystem import FileType
from e2b_code_interpreter import Execution
from e2b_code_interpreter import Sandbox as CodeInterpreter

from .base import (
    ARTIFACT_NAME,
    ERROR_NAME_CHARS,
    TRUNCATION_MARKER,
    DatasetMount,
    Limits,
    MalformedResult,
    OutputSink,
    SandboxResult,
    accept_artifacts,
    cap_results,
    check_error,
    check_results,
    storable,
    verified_code,
)

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "code-interpreter-v1"
# The sandbox outlives the run's wall limit by this much at least, so that E2B itself kills it should our
# own kill never arrive (the worker died, the network broke).
_LIFETIME_MARGIN_SECONDS = 30
_REQUEST_TIMEOUT_SECONDS = 30.0  # each control-plane / upload request
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # IPython colours its tracebacks
_OUTPUT_DIR = "/output"
_MB = 1024 * 1024
_NOT_ENFORCED = ("cpu_seconds", "memory_mb", "max_processes", "file_size_mb", "scratch_mb")


class E2BSandbox:
    name = "e2b"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        sandbox_url: str | None = None,
        template: str | None = None,
        lifetime_seconds: int | None = None,
    ) -> None:
        self.api_key = api_key if api_key is not None else settings.E2B_API_KEY
        # Empty means the SDK's own default (E2B's cloud, or its E2B_DOMAIN).
        self.api_url = api_url or settings.E2B_API_URL or None
        self.sandbox_url = sandbox_url or settings.E2B_SANDBOX_URL or None
        self.template = template or settings.E2B_TEMPLATE or DEFAULT_TEMPLATE
        self.lifetime_seconds = lifetime_seconds or settings.E2B_TIMEOUT_SECONDS

    def run(
        self,
        *,
        code: str,
        code_sha256: str,
        datasets: list[DatasetMount],
        limits: Limits,
        on_output: OutputSink | None = None,
    ) -> SandboxResult:
        source = verified_code(code, code_sha256)  # before any network call: nothing else may run
        uploads = _uploads(datasets)
        started = time.monotonic()
        sandbox = None
        phase = "create"
        caveats: list[str] = []
        try:
            sandbox = self._create(limits)
            phase = "upload"
            _upload(sandbox, uploads)
            phase = "run"
            execution = sandbox.run_code(
                source.decode("utf-8"),
                timeout=limits.wall_seconds,
                request_timeout=_REQUEST_TIMEOUT_SECONDS,
                **_forwarding(on_output),
            )
            result = _result(execution, limits)
            if not result.timed_out:
                _collect_artifacts_guarded(sandbox, result, limits, caveats)
        except (
            AuthenticationException,
            ServiceBusyException,
            SandboxException,
            httpx.HTTPError,
            ConnectionError,
        ) as exc:
            result = _failure(exc, phase, limits)
        finally:
            if sandbox is not None:
                _kill(sandbox)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        result.limits = self._limits_record(limits)
        result.limits["caveats"] += caveats
        return result

    def _create(self, limits: Limits) -> CodeInterpreter:
        return CodeInterpreter.create(
            template=self.template,
            timeout=self._lifetime(limits),
            allow_internet_access=False,  # as the local sandbox: the code reaches nothing outside
            envs={},
            metadata={"app": "sandgate"},
            api_key=self.api_key or None,
            api_url=self.api_url,
            sandbox_url=self.sandbox_url,
            request_timeout=_REQUEST_TIMEOUT_SECONDS,
        )

    def _lifetime(self, limits: Limits) -> int:
        return max(self.lifetime_seconds, limits.wall_seconds + _LIFETIME_MARGIN_SECONDS)

    def _limits_record(self, limits: Limits) -> dict:
        return {
            "backend": "e2b",
            "template": self.template,
            "wall_seconds": limits.wall_seconds,
            "output_bytes": limits.output_bytes,
            **dict.fromkeys(_NOT_ENFORCED),
            "artifact_count": limits.artifact_count,
            "artifact_mb": limits.artifact_mb,
            "results_mb": limits.results_mb,
            "network": False,
            "sandbox_lifetime_seconds": self._lifetime(limits),
            "caveats": [
                "E2B bounds CPU, memory, processes and disk by the template's microVM size, not per run: "
                + ", ".join(_NOT_ENFORCED)
                + " are not enforced by Sandgate",
            ],
        }


# --- Before the sandbox ------------------------------------------------------------------------------


def _forwarding(on_output: OutputSink | None) -> dict:
    """The SDK's callbacks, called as the kernel's output lines arrive on the streamed response."""
    if on_output is None:
        return {}
    return {
        "on_stdout": lambda message: on_output("stdout", message.line),
        "on_stderr": lambda message: on_output("stderr", message.line),
    }


def _uploads(datasets: list[DatasetMount]) -> list[tuple[str, str]]:
    """(host path, sandbox path) for each dataset, checked before a sandbox is paid for."""
    uploads = []
    for dataset in datasets:
        if dataset.name in ("", ".", "..") or "/" in dataset.name or "\0" in dataset.name:
            raise ValueError(f"Invalid dataset name for /data: {dataset.name!r}")
        if not os.path.isfile(dataset.host_path):
            raise FileNotFoundError(f"Dataset {dataset.name!r} not found at {dataset.host_path}")
        uploads.append((dataset.host_path, f"/data/{dataset.name}"))
    return uploads


def _upload(sandbox: CodeInterpreter, uploads: list[tuple[str, str]]) -> None:
    # As root: /data does not exist in the template and / is root's. File objects are streamed
    # (octet-stream on envd 0.5.7+), not read into memory.
    for host_path, sandbox_path in uploads:
        with open(host_path, "rb") as handle:
            sandbox.files.write(sandbox_path, handle, user="root", request_timeout=_REQUEST_TIMEOUT_SECONDS)


def _kill(sandbox: CodeInterpreter) -> None:
    try:
        sandbox.kill(request_timeout=_REQUEST_TIMEOUT_SECONDS)
    except Exception:  # E2B's own lifetime limit (set at creation) ends it anyway
        logger.warning("could not kill E2B sandbox %s", sandbox.sandbox_id, exc_info=True)


# --- Artifacts ---------------------------------------------------------------------------------------


def _collect_artifacts_guarded(
    sandbox: CodeInterpreter, result: SandboxResult, limits: Limits, caveats: list
) -> None:
    """Whatever goes wrong while collecting artifacts, the run's output stands; a caveat says what."""
    try:
        _collect_artifacts(sandbox, result, limits, caveats)
    except Exception as exc:
        logger.warning("collecting artifacts from E2B sandbox %s failed", sandbox.sandbox_id, exc_info=exc)
        caveats.append(f"files under {_OUTPUT_DIR} could not be collected ({type(exc).__name__}: {exc})")


def _collect_artifacts(
    sandbox: CodeInterpreter, result: SandboxResult, limits: Limits, caveats: list
) -> None:
    """/output's regular files into `result.artifacts`, as the local runner reports and accepts them."""
    reported: list[dict] = []
    try:
        entries = sandbox.files.list(_OUTPUT_DIR, depth=1, request_timeout=_REQUEST_TIMEOUT_SECONDS)
    except FileNotFoundException:
        entries = []  # the code wrote nothing there
    except (SandboxException, httpx.HTTPError, ConnectionError) as exc:
        logger.warning("could not list %s in E2B sandbox %s", _OUTPUT_DIR, sandbox.sandbox_id, exc_info=exc)
        caveats.append(f"files under {_OUTPUT_DIR} could not be listed ({type(exc).__name__}: {exc})")
        entries = []
    budget, total, count = limits.artifact_mb * _MB, 0, 0
    for entry in sorted(entries, key=lambda e: e.name):
        reason = None
        if entry.type is not FileType.FILE or entry.symlink_target is not None:
            reason = "not a regular file (symlinks, directories and devices are never returned)"
        elif not ARTIFACT_NAME.match(entry.name):
            reason = "not a plain file name"
        elif count >= limits.artifact_count:
            reason = f"more than {limits.artifact_count} files"
        elif total + entry.size > budget:
            reason = f"artifacts over {limits.artifact_mb} MB in total"
        if reason is not None:
            reported.append({"name": entry.name, "reason": reason})
            continue
        try:
            data = _download(sandbox, f"{_OUTPUT_DIR}/{entry.name}", budget - total)
        except (SandboxException, httpx.HTTPError, ConnectionError) as exc:
            logger.warning("could not download %s from E2B", entry.name, exc_info=exc)
            caveats.append(
                f"{_OUTPUT_DIR}/{entry.name} could not be downloaded ({type(exc).__name__}: {exc})"
            )
            reported.append({"name": entry.name, "reason": "the download failed"})
            continue
        if data is None:
            reported.append(
                {"name": entry.name, "reason": f"artifacts over {limits.artifact_mb} MB in total"}
            )
            continue
        total, count = total + len(data), count + 1
        reported.append({"name": entry.name, "data": base64.b64encode(data).decode("ascii")})
    result.artifacts, result.skipped_artifacts = accept_artifacts(reported, limits)


def _download(sandbox: CodeInterpreter, path: str, limit: int) -> bytes | None:
    """The file's bytes, streamed and abandoned past `limit` (it may have grown since it was listed)."""
    data = bytearray()
    with sandbox.files.read(path, format="stream", request_timeout=_REQUEST_TIMEOUT_SECONDS) as stream:
        for chunk in stream:
            data += chunk
            if len(data) > limit:
                return None
    return bytes(data)


# --- The result ------------------------------------------------------------------------------------


def _result(execution: Execution, limits: Limits) -> SandboxResult:
    result = SandboxResult(
        stdout=_capped("".join(execution.logs.stdout), limits.output_bytes),
        stderr=_capped("".join(execution.logs.stderr), limits.output_bytes),
    )
    error = execution.error
    if error is not None:
        traceback = _ANSI.sub("", error.traceback) if isinstance(error.traceback, str) else error.traceback
        error = _error(
            _clean(error.name, ERROR_NAME_CHARS),
            _clean(error.value, limits.output_bytes),
            _clean(traceback or "", limits.output_bytes),
        )
    try:
        result.results = check_results(cap_results(_results(execution.results), limits), limits)
        result.error = check_error(error, limits)
    except MalformedResult as exc:
        result.results, result.error = [], exc.error()
    return result


def _results(results: list) -> list[dict]:
    """E2B's results in the local backend's shape: png, html (+ text), or text."""
    shaped = []
    for result in results:
        if result.png:
            item = {"png": result.png}
        elif result.html:
            item = {"html": result.html, "text": result.text or ""}
        elif result.text is not None:
            item = {"text": result.text}
        else:
            continue  # formats the app does not show (svg, latex, charts' data…)
        shaped.append({key: _clean(value) for key, value in item.items()})
    return shaped


def _clean(value: object, limit: int | None = None) -> object:
    """A string the kernel sent, storable and capped; anything else as it is, for the checks to refuse."""
    if not isinstance(value, str):
        return value
    return storable(value if limit is None else _capped(value, limit))


def _capped(text: str, limit: int) -> str:
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return storable(text)
    return storable(data[:limit].decode("utf-8", errors="ignore")) + TRUNCATION_MARKER


def _error(name: str, value: str, traceback: str = "") -> dict:
    return {"name": name, "value": value, "traceback": traceback}


def _failure(exc: Exception, phase: str, limits: Limits) -> SandboxResult:
    """An SDK error as a clear failed (or timed-out) execution."""
    if isinstance(exc, AuthenticationException):
        value = f"E2B rejected the API key (check E2B_API_KEY): {exc}"
        return SandboxResult(error=_error("SandboxError", value))
    if isinstance(exc, RateLimitException):
        value = f"E2B's rate limit was reached, even after retrying; try again later ({exc})"
        return SandboxResult(error=_error("SandboxError", value))
    if isinstance(exc, ServiceBusyException):
        value = f"E2B has no capacity right now; try again later ({exc})"
        return SandboxResult(error=_error("SandboxError", value))
    if isinstance(exc, TimeoutException | httpx.TimeoutException) and phase == "run":
        value = f"the code ran past the wall-clock limit of {limits.wall_seconds} s and was stopped"
        return SandboxResult(error=_error("SandboxTimeout", value), timed_out=True)
    logger.warning("E2B sandbox failed while trying to %s", phase, exc_info=exc)
    value = f"the E2B sandbox failed while trying to {phase} ({type(exc).__name__}: {exc})"
    return SandboxResult(error=_error("SandboxError", value))


def run_seconds_ceiling(limits: Limits) -> float:
    """The longest a run at `limits` is counted (and so charged) here: the create request, before the
    sandbox exists, and the sandbox's whole lifetime, at whose end E2B kills it whatever we do. A run's
    budget hold is priced at it."""
    return _REQUEST_TIMEOUT_SECONDS + E2BSandbox(lifetime_seconds=None)._lifetime(limits)
