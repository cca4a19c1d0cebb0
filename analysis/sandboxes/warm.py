"""The warm pool: local sandboxes started ahead of time with pandas and pyplot already imported.

Importing pandas and pyplot costs 400–750 ms per run; a warm sandbox has paid it before the execution
arrives, so the user's first line runs a few milliseconds after the worker hands the code over.

Each warm sandbox is an ordinary local sandbox (every layer of local.py — namespaces, allow-listed mounts,
seccomp, rlimits, cgroup, tmpfs — is in force from its start) whose runner imports first and then waits
for the code on stdin. It is given exactly one execution and then destroyed; the pool launches a new one.

Datasets are unknown when a warm sandbox starts, so each gets an empty host directory of its own, bound
read-only at /data. At the hand-over the worker hard-links (or, across file systems, copies) the
request's dataset files into it, then writes the code. Nothing untrusted has run in the sandbox before
that moment (only the runner's imports), and the bind is read-only, so the code cannot change what it
reads. The files are the same ones the service hashed just before (hard links share the inode, exactly
as the cold run's bind mounts do), so a warm run sees what a cold run would.

Only requests whose limits equal the pool's (the settings' defaults) use it: rlimits, cgroup and tmpfs
sizes are fixed at start. Others, e.g. a team with its own limits, run cold. RLIMIT_CPU starts with room
for the imports (local.WARM_IMPORT_CPU_SECONDS), and the runner lowers it to the CPU time used so far plus
the run's cpu_seconds before the code runs; the run's cgroup CPU time (all its processes) is counted from
the end of the imports (local.Launched.execute waits for them at the hand-over).

The pool lives in Celery worker processes only (`enable()` is called from the worker's start-up signal),
is created at the first execution, and is refilled after each; the web process never starts sandboxes
ahead of time. Idle warm sandboxes die with the worker (bwrap's --die-with-parent).
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import shutil
import stat
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from . import local
from .base import DatasetMount, Limits, OutputSink, SandboxResult, verified_code

logger = logging.getLogger(__name__)

_enabled = False
_pool: WarmPool | None = None
# Root workers give each warm sandbox a host uid of its own (see local._dedicated_uid): the launching
# thread's id and a slot number, in a range apart from the cold runs' uids.
_WARM_UID_BASE = local._HOST_UID_BASE + 0x0800_0000
_UID_SLOTS = 16


def enable() -> None:
    """Allow a warm pool in this process: called in Celery workers, never in the web process."""
    global _enabled
    _enabled = True


def shutdown() -> None:
    """Destroy this process's idle warm sandboxes (the worker is stopping)."""
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


def worker_pool() -> WarmPool | None:
    """This worker process's pool, created at first use; None where there is none (web, size 0)."""
    global _pool
    if not _enabled or settings.SANDBOX_WARM_POOL_SIZE <= 0 or settings.SANDBOX_BACKEND != "local":
        return None
    if _pool is None:
        _pool = WarmPool(size=settings.SANDBOX_WARM_POOL_SIZE, limits=Limits.merged(settings.SANDBOX_LIMITS))
    return _pool


@dataclass
class WarmSandbox:
    launched: local.Launched
    data_root: Path  # private (0711) parent of data_dir, removed with it
    data_dir: Path  # bound read-only at /data

    def execute(
        self, source: bytes, datasets: list[DatasetMount], on_output: OutputSink | None = None
    ) -> SandboxResult:
        if self.launched.used:
            raise RuntimeError("a warm sandbox runs exactly one execution")
        for dataset in datasets:
            _place(dataset, self.data_dir)
        result = self.launched.execute(source, on_output)
        result.limits = {**result.limits, "warm": True}
        return result

    def destroy(self) -> None:
        self.launched.destroy()
        shutil.rmtree(self.data_root, ignore_errors=True)


class WarmPool:
    """A few warm sandboxes of one worker process; implements the Sandbox interface."""

    name = "local"

    def __init__(self, *, size: int, limits: Limits, sandbox: local.LocalSandbox | None = None) -> None:
        self.size = size
        self.limits = limits
        self.sandbox = sandbox or local.LocalSandbox()
        self._idle: deque[WarmSandbox] = deque()
        self._slots = itertools.count()

    def run(
        self,
        *,
        code: str,
        code_sha256: str,
        datasets: list[DatasetMount],
        limits: Limits,
        on_output: OutputSink | None = None,
    ) -> SandboxResult:
        source = verified_code(code, code_sha256)
        warm = self.take(limits)
        if warm is None:
            result = self.sandbox.run(
                code=code, code_sha256=code_sha256, datasets=datasets, limits=limits, on_output=on_output
            )
            self.fill()
            return result
        try:
            return warm.execute(source, datasets, on_output)
        finally:
            warm.destroy()
            self.fill()

    def take(self, limits: Limits) -> WarmSandbox | None:
        """A live warm sandbox for these limits, out of the pool (it is the caller's to destroy)."""
        if limits != self.limits:
            return None
        if not self._idle:
            self.fill()
        while self._idle:
            warm = self._idle.popleft()
            if warm.launched.alive():
                return warm
            warm.destroy()  # died while idle (killed, out of memory…): never hand it code
        return None

    def fill(self) -> None:
        while len(self._idle) < self.size:
            try:
                self._idle.append(self._launch())
            except Exception:
                logger.exception("could not start a warm sandbox; runs go cold meanwhile")
                return

    def close(self) -> None:
        while self._idle:
            self._idle.popleft().destroy()

    def _launch(self) -> WarmSandbox:
        # The pid in the name lets a later worker sweep it should this one die first (local.sweep_stale).
        data_root = Path(tempfile.mkdtemp(prefix=f"sandgate-warm-{os.getpid()}-"))
        data_root.chmod(0o711)  # others (the sandbox's own uid) may pass through, not list
        data_dir = data_root / secrets.token_hex(16)
        data_dir.mkdir(mode=0o755)
        try:
            launched = self.sandbox.launch(
                limits=self.limits,
                dataset_binds=[local._Bind(str(data_dir), "/data")],
                warm=True,
                host_uid=self._host_uid(),
            )
        except BaseException:
            shutil.rmtree(data_root, ignore_errors=True)
            raise
        return WarmSandbox(launched=launched, data_root=data_root, data_dir=data_dir)

    def _host_uid(self) -> int | None:
        if os.geteuid() != 0:
            return None
        slot = next(self._slots) % _UID_SLOTS
        return _WARM_UID_BASE + (threading.get_native_id() % (1 << 22)) * _UID_SLOTS + slot


def _place(dataset: DatasetMount, data_dir: Path) -> None:
    """Put one dataset file into a warm sandbox's /data: a hard link, or a copy where linking fails."""
    if dataset.name in ("", ".", "..") or "/" in dataset.name or "\0" in dataset.name:
        raise ValueError(f"Invalid dataset name for /data: {dataset.name!r}")
    source = os.path.realpath(dataset.host_path)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"Dataset {dataset.name!r} not found at {dataset.host_path}")
    target = data_dir / dataset.name
    if os.stat(source).st_mode & stat.S_IROTH:  # the sandbox's uid may be "others"
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # another file system, or protected_hardlinks
    shutil.copyfile(source, target)
    target.chmod(0o644)
