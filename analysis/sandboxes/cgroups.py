"""A memory, pids and CPU-accounting cgroup per sandbox run, where the host lets the worker create one.

RLIMIT_AS, RLIMIT_NPROC and RLIMIT_CPU are per process (or per uid): four processes may each use the whole
memory limit, and 64 processes 64 times the CPU limit. A cgroup caps memory and processes of the sandbox
as a whole, and counts the CPU time of all its processes together, which the worker reads while the run
goes on (local.py stops the run once the total passes its cpu_seconds). Works with cgroup v2 (a child of
the worker's own cgroup, when memory/pids are delegated to it; its `cpu.stat` counts CPU time whether or
not the cpu controller is enabled) and cgroup v1 (a child in each controller's hierarchy, `cpuacct` for
the CPU time). Where neither is possible, the run goes on with rlimits only and its limits record says so.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)
ROOT = Path("/sys/fs/cgroup")
_MB = 1024 * 1024


@dataclass
class RunCgroup:
    directories: list[Path] = field(default_factory=list)
    memory: Path | None = None
    pids: bool = False
    cpu: Path | None = None  # v1 cpuacct.usage (nanoseconds) or v2 cpu.stat (usage_usec)
    version: int = 0

    @property
    def join_files(self) -> tuple[str, ...]:
        """Where the launcher (launcher.c) writes "0" (itself) before starting bwrap, in every directory.

        cgroup v1: `tasks`, which moves the writing thread only. The launcher has one thread, so
        that is the whole process, and the kernel then skips the global threadgroup lock that a write to
        `cgroup.procs` takes: that lock waits for an RCU grace period, 5-25 ms here, on every cold run.
        cgroup v2 has no such file outside threaded subtrees, so there it is `cgroup.procs`.
        """
        name = "tasks" if self.version == 1 else "cgroup.procs"
        return tuple(str(directory / name) for directory in self.directories)

    def record(self) -> dict:
        return {
            "cgroup_version": self.version or None,
            "cgroup_memory": bool(self.memory),
            "cgroup_pids": self.pids,
            "cgroup_cpu": self.cpu is not None,
        }

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by every process that was ever in the run's cgroup; None if not counted."""
        if self.cpu is None:
            return None
        try:
            text = self.cpu.read_text()
        except OSError:
            return None
        if self.version == 1:
            return int(text) / 1e9
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return None

    def oom_killed(self) -> bool:
        if self.memory is None:
            return False
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            lines = (self.memory / name).read_text().splitlines()
        except OSError:
            return False
        counts = dict(line.split() for line in lines if len(line.split()) == 2)
        return int(counts.get("oom_kill", "0")) > 0

    def remove(self) -> None:
        # Only once every process of the run is gone; the kernel may need a moment to reap them.
        for directory in self.directories:
            for _ in range(100):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
            else:
                logger.warning("cannot remove cgroup %s", directory)


# The creating process's pid is in the name: a worker that died without removing its cgroups (SIGKILL,
# or a pool child stopped by its parent) leaves them to sweep_stale() at the next worker start.
_NAME = re.compile(r"^sandgate-(\d+)-[0-9a-f]+$")


def create(*, memory_mb: int, max_processes: int) -> RunCgroup:
    name = f"sandgate-{os.getpid()}-{os.urandom(8).hex()}"
    if _unified():
        return _create_v2(name, memory_mb, max_processes)
    return _create_v1(name, memory_mb, max_processes)


def sweep_stale() -> int:
    """Remove run cgroups left by dead processes (rmdir: only an empty cgroup can go). Returns the count."""
    removed = 0
    for parent in _parents():
        for directory in parent.glob("sandgate-*"):
            match = _NAME.match(directory.name)
            if match and not pid_alive(int(match.group(1))):
                try:
                    directory.rmdir()
                    removed += 1
                except OSError:
                    pass  # still holds a process: not stale after all
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _parents() -> list[Path]:
    """Where this process creates run cgroups, in each hierarchy it uses."""
    own = _own_paths()
    controllers = ("",) if _unified() else ("memory", "pids", "cpuacct")
    return [p for p in (_parent(c, own) for c in controllers) if p is not None and p.is_dir()]


@functools.cache
def _unified() -> bool:
    return (ROOT / "cgroup.controllers").exists()


def _parent(controller: str, own: dict[str, str]) -> Path | None:
    """Beside this process in one hierarchy ("" = the v2 unified one); None where it is not mounted."""
    mount = ROOT / controller if controller else ROOT
    if controller not in own or not mount.is_dir():
        return None
    return mount / own[controller].lstrip("/")


def _own_paths() -> dict[str, str]:
    """controller -> this process's cgroup path ("" for the v2 unified hierarchy)."""
    return _paths_of(os.getpid())


@functools.cache
def _paths_of(pid: int) -> dict[str, str]:
    # Read once per process (a forked pool child reads its own): a worker is not moved between cgroups,
    # and were it moved, its runs' cgroups would still be made where it started, which works as well.
    paths = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _id, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _create_v1(name: str, memory_mb: int, max_processes: int) -> RunCgroup:
    cgroup = RunCgroup(version=1)
    own = _own_paths()
    memory = _make_child(_parent("memory", own), name)
    if memory is not None:
        if _write(memory / "memory.limit_in_bytes", memory_mb * _MB):
            _write(memory / "memory.memsw.limit_in_bytes", memory_mb * _MB)  # no escape into swap
            cgroup.memory = memory
        cgroup.directories.append(memory)
    pids = _make_child(_parent("pids", own), name)
    if pids is not None:
        cgroup.pids = _write(pids / "pids.max", max_processes)
        cgroup.directories.append(pids)
    cpuacct = _make_child(_parent("cpuacct", own), name)
    if cpuacct is not None:
        cgroup.directories.append(cpuacct)
        if (cpuacct / "cpuacct.usage").is_file():
            cgroup.cpu = cpuacct / "cpuacct.usage"
    return cgroup


def _create_v2(name: str, memory_mb: int, max_processes: int) -> RunCgroup:
    cgroup = RunCgroup(version=2)
    directory = _make_child(_parent("", _own_paths()), name)
    if directory is None:
        return cgroup
    cgroup.directories.append(directory)
    if _write(directory / "memory.max", memory_mb * _MB):
        _write(directory / "memory.swap.max", 0)
        cgroup.memory = directory
    cgroup.pids = _write(directory / "pids.max", max_processes)
    if (directory / "cpu.stat").is_file():  # a core file of every v2 cgroup: usage_usec is always there
        cgroup.cpu = directory / "cpu.stat"
    return cgroup


def _make_child(parent: Path | None, name: str) -> Path | None:
    if parent is None:
        return None
    directory = parent / name
    try:
        directory.mkdir()
    except OSError:
        return None
    return directory


def _write(path: Path, value: int) -> bool:
    try:
        path.write_text(str(value))
    except OSError:
        return False
    return True
