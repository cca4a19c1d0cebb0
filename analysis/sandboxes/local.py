"""The local sandbox backend: bubblewrap namespaces, rlimits, and a fresh scratch directory per run.

Approved code is still untrusted code. What stands between it and the worker:

- bubblewrap: new user, mount, pid, network, ipc, uts and cgroup namespaces; nested user namespaces
  disabled when this bwrap supports it; a new session (no TIOCSTI on the worker's terminal); killed
  with its parent; an empty environment plus a few fixed variables. bwrap itself is started with an
  empty environment as well, so no worker secret is in any process of the sandbox.
- An allow-list of read-only mounts: /usr (and the /bin, /lib... links into it), a few /etc files, the
  runtime's interpreter and site-packages, the runner, and the datasets. Never /, the project
  directory or /root: the interpreter, packages and runner appear under /opt/sandgate instead. /dev
  holds only null, zero, full, random and urandom: no pseudo-terminals.
- A host uid of its own when the worker is root. bwrap run by root would map the sandbox user to host
  root, which owns the host device nodes bound into /dev (`chmod 000 /dev/null` from inside would
  change the host's /dev/null), and RLIMIT_NPROC is not enforced for root. So the launcher
  (launcher.c) drops to a dedicated unprivileged uid before bwrap starts.
- rlimits (CPU, address space, file size, open files, processes, no core dumps), set by the launcher,
  and a wall-clock timeout that kills the whole process tree.
- a seccomp filter (seccomp.py) installed by bwrap before the runtime starts, and a memory/pids/CPU
  accounting cgroup per run where the host delegates one (cgroups.py); the worker reads the CPU time of
  all the run's processes together while it runs and stops the run once it passes cpu_seconds
  (RLIMIT_CPU stays as the per-process backstop).
- size-capped tmpfs for /tmp and /output; /output's regular files come back as artifacts, validated
  again here (base.accept_artifacts).
- the runner's result document is checked here (base.check_results, check_error): anything malformed,
  or a channel flooded past its cap, ends the run failed saying so.
- the code is re-hashed against the approved SHA-256 right before the sandbox starts.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import resource
import select
import selectors
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import cgroups, seccomp
from .base import (
    ERROR_NAME_CHARS,
    TRUNCATION_MARKER,
    DatasetMount,
    Limits,
    MalformedResult,
    OutputSink,
    SandboxResult,
    accept_artifacts,
    check_error,
    check_results,
    storable,
    verified_code,
)

logger = logging.getLogger(__name__)

BWRAP = "/usr/bin/bwrap"
RUNNER = Path(__file__).with_name("runner.py")

# Where things appear inside the sandbox; none of these reveal a host path.
SANDBOX_PYTHON = "/opt/sandgate/python"
SANDBOX_SITE_PACKAGES = "/opt/sandgate/site-packages"
SANDBOX_RUNNER = "/opt/sandgate/runner.pyc"
MPLCONFIGDIR = "/tmp/.matplotlib"
SANDBOX_UID = 1000  # the uid/gid the code sees; outside it is the worker's uid or a dedicated one

# Root workers run each sandbox as host uid BASE + the worker thread's id: unprivileged, owning
# nothing on the host, and unique among concurrent runs so RLIMIT_NPROC counts only this run.
_HOST_UID_BASE = 0x70000000
_OPEN_FILES = 256
_REPORT_SLACK = 64 * 1024  # JSON punctuation and the artifacts' names and reasons
_KILL_GRACE_SECONDS = 2.0
# How often the worker reads a running sandbox's CPU time from its cgroup (a file read, ~10 µs): with
# every core busy the run can pass its limit by up to this much per core before it is stopped.
_CPU_POLL_SECONDS = 0.1
_READ_CHUNK = 65536
_MB = 1024 * 1024

_TOP_LEVEL_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # usually links into /usr
# ld.so.cache for the dynamic loader, localtime for pandas/datetime, fonts for matplotlib's fc-list.
_ETC_PATHS = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts")


class LocalSandbox:
    name = "local"

    def __init__(
        self, runtime_dir: Path | None = None, bwrap: str = BWRAP, launcher: Path | None = None
    ) -> None:
        self.runtime_dir = Path(runtime_dir or settings.SANDBOX_RUNTIME_DIR)
        self.bwrap = bwrap
        self.launcher = Path(launcher or settings.SANDBOX_LAUNCHER)

    def run(
        self,
        *,
        code: str,
        code_sha256: str,
        datasets: list[DatasetMount],
        limits: Limits,
        on_output: OutputSink | None = None,
    ) -> SandboxResult:
        source = verified_code(code, code_sha256)  # the bytes hashed are the bytes sent: nothing between
        started = self.launch(limits=limits, dataset_binds=_dataset_binds(datasets))
        try:
            return started.execute(source, on_output)
        finally:
            started.destroy()

    def launch(
        self,
        *,
        limits: Limits,
        dataset_binds: list[_Bind],
        warm: bool = False,
        host_uid: int | None = None,
    ) -> Launched:
        """Start a sandbox that waits for its code on stdin; `warm` pre-imports pandas and pyplot first.

        Every layer (namespaces, mounts, seccomp, rlimits, cgroup) is in force from this moment on.
        """
        runtime = inspect_runtime(self.runtime_dir)
        options = bwrap_options(self.bwrap)
        if not os.access(self.launcher, os.X_OK):
            raise ImproperlyConfigured(
                f"The sandbox launcher is missing: {self.launcher} (`make install` builds it)."
            )
        if "--size" not in options:
            raise ImproperlyConfigured("bubblewrap 0.7 or newer is needed (--size for the tmpfs caps).")
        if host_uid is None and os.geteuid() == 0:
            host_uid = _dedicated_uid()
        cgroup = cgroups.create(memory_mb=limits.memory_mb, max_processes=limits.max_processes)
        try:
            return self._launch_in(dataset_binds, limits, runtime, options, host_uid, cgroup, warm)
        except BaseException:
            cgroup.remove()
            raise

    def _launch_in(
        self,
        dataset_binds: list[_Bind],
        limits: Limits,
        runtime: Runtime,
        options: frozenset[str],
        host_uid: int | None,
        cgroup: cgroups.RunCgroup,
        warm: bool,
    ) -> Launched:
        layout = _layout(runtime)
        binds, font_binds, staged = [*layout.binds, *dataset_binds], list(layout.font_binds), []
        if host_uid is not None:
            binds, staged = _stage_unreachable(binds)
            font_binds, staged_fonts = _stage_unreachable(font_binds)
            staged += staged_fonts
        result_read, result_write = os.pipe()
        ready_read, ready_write = os.pipe() if warm else (None, None)
        filter_fd = seccomp.program_fd() if seccomp.supported() else None
        # A warm runner's CPU time includes the imports: its hard limit leaves room for them, and the runner
        # lowers it to (time used so far + cpu_seconds) before the user's first line (runner.py).
        cpu_limits = replace(limits, cpu_seconds=limits.cpu_seconds + WARM_IMPORT_CPU_SECONDS * warm)
        warm_args = ["--warm", str(ready_write), str(limits.cpu_seconds)] if warm else []
        command = [
            self.bwrap,
            *_isolation_args(options),
            *_system_args(limits, options),
            *_bind_args(binds),
            *_scratch_args(limits),
            *_bind_args(font_binds),  # after the /tmp tmpfs: they go into it
            *layout.hide_args,
            *_env_args(runtime.library_dir),
            *(["--seccomp", str(filter_fd)] if filter_fd is not None else []),
            "--chdir",
            "/tmp",
            "--remount-ro",
            "/",  # the sandbox's root tmpfs: nothing may grow it (RAM) outside /tmp and /output
            *runtime.command(),
            *warm_args,
            str(result_write),
            str(limits.artifact_count),
            str(limits.artifact_mb * _MB),
            str(limits.results_bytes),
            str(limits.output_bytes),
            *runtime.sandbox_site_packages(),
        ]
        setup = _launcher_args(_rlimits(cpu_limits), staged, cgroup.join_files, host_uid)
        extra_fds = tuple(fd for fd in (result_write, ready_write, filter_fd) if fd is not None)
        started = time.monotonic()
        try:
            process = _start([str(self.launcher), *setup, "--", *command], result_read, extra_fds)
        except BaseException:
            if ready_read is not None:
                os.close(ready_read)
            raise
        finally:
            for fd in extra_fds[1:]:
                os.close(fd)
        record = _limits_record(limits, options, host_uid, cgroup, filter_fd is not None)
        return Launched(process, result_read, ready_read, cgroup, limits, record, started)


WARM_IMPORT_CPU_SECONDS = 10  # room for importing pandas and pyplot (about 1 s of CPU here) before the code


@dataclass
class Launched:
    """A started sandbox, waiting for its code on stdin. Given exactly one execution, then destroyed."""

    process: subprocess.Popen
    result_read: int
    ready_read: int | None  # warm sandboxes: readable (one byte, or EOF) once the imports are done
    cgroup: cgroups.RunCgroup
    limits: Limits
    record: dict
    started: float  # monotonic time of the launch
    used: bool = False

    def alive(self) -> bool:
        return not self.used and self.process.poll() is None

    def ready(self, timeout: float = 0.0) -> bool:
        if self.ready_read is None:
            return True
        return bool(select.select([self.ready_read], [], [], timeout)[0])

    def execute(self, source: bytes, on_output: OutputSink | None = None) -> SandboxResult:
        """Hand over the code and collect the result; the wall clock starts now, at the hand-over."""
        if self.used:
            raise RuntimeError("a sandbox runs exactly one execution")
        self.used = True
        limits, process = self.limits, self.process
        handed_over = time.monotonic()
        # A warm runner may still be importing (a pool filled just now): that CPU time is not the run's.
        self.ready(timeout=limits.wall_seconds)
        cpu = _CpuWatch.begin(self.cgroup, limits.cpu_seconds)
        stopper = _Stopper(process, handed_over + limits.wall_seconds, cpu)
        try:
            with os.fdopen(self.result_read, "rb", buffering=0):
                exchange = _exchange(
                    process,
                    source,
                    self.result_read,
                    stopper,
                    limits.output_bytes,
                    _result_cap(limits),
                    on_output,
                )
        except BaseException:
            _kill_tree(process)  # never leave a sandbox running behind an error of ours
            process.wait()
            raise
        duration_ms = int((time.monotonic() - handed_over) * 1000)
        if exchange.stopped is None and cpu is not None and cpu.over():
            exchange.stopped = "cpu"  # it ended between two readings, yet over the limit all the same
        oom_killed = self.cgroup.oom_killed()
        used = cpu.used if cpu is not None else None
        return _result(exchange, process.returncode, limits, duration_ms, self.record, oom_killed, used)

    def destroy(self) -> None:
        """Kill whatever is left, then remove the cgroup. Safe to call twice."""
        self.used = True
        if self.process.returncode is None:
            _kill_tree(self.process)
            self.process.wait()
        _close_pipes(self.process)
        for fd in (self.result_read, self.ready_read):
            with contextlib.suppress(OSError, TypeError):
                os.close(fd)
        self.ready_read = None
        self.cgroup.remove()


def _result_cap(limits: Limits) -> int:
    """The most the runner's result document can take on the channel: more is forged, and stops the run.

    Results (at most results_mb as UTF-8 JSON) and the error's value and traceback (output_bytes
    characters each) go as ASCII JSON, where one character takes up to 6 bytes (\\uXXXX), and the
    artifacts as base64 (4/3 of their size).
    """
    text = limits.results_bytes + 2 * limits.output_bytes + ERROR_NAME_CHARS
    return 6 * text + limits.artifact_mb * _MB * 4 // 3 + _REPORT_SLACK


def _scratch_args(limits: Limits) -> list[str]:
    """Size-capped tmpfs for scratch and output: in the sandbox's memory, gone when it ends."""
    return [
        "--size", str(limits.scratch_mb * _MB), "--tmpfs", "/tmp",
        "--size", str(limits.artifact_mb * _MB), "--tmpfs", "/output",
    ]  # fmt: skip


def _start(command: list[str], result_read: int, extra_fds: tuple[int, ...]) -> subprocess.Popen:
    """Start the launcher (which starts bwrap) and wait until bwrap runs, or raise what failed before."""
    status_read, status_write = os.pipe()
    try:
        process = subprocess.Popen(
            [*command[:1], "--status-fd", str(status_write), *command[1:]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={},  # bwrap's own environment (and so /proc/1/environ inside) holds no secret
            cwd="/",
            pass_fds=(*extra_fds, status_write),  # everything else of the worker's (DB sockets...) is closed
            start_new_session=True,  # its own process group, killed as a whole on timeout
        )
    except BaseException:
        os.close(result_read)
        os.close(status_read)
        raise
    finally:
        os.close(status_write)
        os.close(extra_fds[0])  # the child has its copy; EOF on the result pipe must mean "it is done"
    with os.fdopen(status_read, "rb") as status:
        failure = status.read()  # EOF once bwrap is exec-ed: the status fd is close-on-exec
    if failure:
        process.wait()
        _close_pipes(process)
        os.close(result_read)
        raise OSError(failure.decode(errors="replace").strip())
    return process


# --- The runtime --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    """The sandbox venv as the host sees it: its base interpreter and its site-packages."""

    base_prefix: Path
    executable: Path  # the real interpreter binary, inside base_prefix
    site_packages: tuple[Path, ...]
    runtime_dir: Path

    @property
    def relocated(self) -> bool:
        # A system interpreter under /usr is already mounted at its own path; anything else (pyenv
        # under /root...) is mounted at /opt/sandgate/python so that no host path shows.
        return not self.base_prefix.is_relative_to("/usr")

    @property
    def sandbox_prefix(self) -> str:
        return SANDBOX_PYTHON if self.relocated else str(self.base_prefix)

    @property
    def library_dir(self) -> str | None:
        # A relocated shared-library build finds libpython through its RUNPATH no more.
        return f"{SANDBOX_PYTHON}/lib" if self.relocated else None

    def binds(self) -> list[_Bind]:
        binds = [_Bind(str(self.base_prefix), SANDBOX_PYTHON)] if self.relocated else []
        return binds + [
            _Bind(str(path), dest)
            for path, dest in zip(self.site_packages, self.sandbox_site_packages(), strict=True)
        ]

    def font_cache_binds(self) -> list[_Bind]:
        """matplotlib's font list, prebuilt by `make install`, read-only where matplotlib looks for it.

        Without it every run that imports pyplot rescans the system fonts (hundreds of milliseconds).
        """
        cache = self.runtime_dir / "mplconfig"
        return [
            _Bind(str(path), f"{MPLCONFIGDIR}/{path.name}") for path in sorted(cache.glob("fontlist-*.json"))
        ]

    def sandbox_site_packages(self) -> list[str]:
        return [
            SANDBOX_SITE_PACKAGES if i == 0 else f"{SANDBOX_SITE_PACKAGES}-{i}"
            for i in range(len(self.site_packages))
        ]

    def hide_args(self) -> list[str]:
        """Cover the base interpreter's own site-packages: only the venv's packages are approved."""
        own = sorted(self.base_prefix.glob("lib/python3*/site-packages"))
        args: list[str] = []
        for path in own:
            inside = f"{self.sandbox_prefix}/{path.relative_to(self.base_prefix)}"
            args += ["--tmpfs", inside, "--remount-ro", inside]
        return args

    def command(self) -> list[str]:
        python = f"{self.sandbox_prefix}/{self.executable.relative_to(self.base_prefix)}"
        # -I: ignore PYTHON* variables and the user site; -S: no site import (the runner adds the
        # venv's site-packages itself, faster); -u: unbuffered, so output before a kill is not lost.
        return [python, "-I", "-S", "-u", SANDBOX_RUNNER]


@functools.cache
def inspect_runtime(runtime_dir: Path) -> Runtime:
    """Ask the runtime's python where its base interpreter and packages live (once per process)."""
    python = runtime_dir / "bin" / "python"
    if not python.exists():
        raise ImproperlyConfigured(f"The sandbox runtime is missing: {python} does not exist.")
    probe = (
        "import json, os, sys, sysconfig; print(json.dumps([sys.base_prefix,"
        " os.path.realpath(sys.executable), sysconfig.get_path('purelib'), sysconfig.get_path('platlib')]))"
    )
    completed = subprocess.run(
        [str(python), "-I", "-c", probe], env={}, capture_output=True, text=True, timeout=60, check=True
    )
    base_prefix, executable, *libs = json.loads(completed.stdout)
    runtime = Runtime(
        runtime_dir=runtime_dir.resolve(),
        base_prefix=Path(os.path.realpath(base_prefix)),
        executable=Path(executable),
        site_packages=tuple(dict.fromkeys(Path(os.path.realpath(lib)) for lib in libs if os.path.isdir(lib))),
    )
    if not runtime.executable.is_relative_to(runtime.base_prefix):
        raise ImproperlyConfigured(f"The runtime interpreter {executable} is outside {base_prefix}.")
    return runtime


@functools.cache
def compiled_runner(runtime: Runtime) -> Path:
    """runner.py as bytecode of the runtime's own Python, compiled once per source and interpreter.

    The sandbox cannot write a __pycache__, so a source runner would be compiled on every run (~4 ms
    here). The file name carries the source's hash: an edited runner.py is never served stale. Its
    recorded file name is the sandbox path, so no host path shows in a traceback.
    """
    source = RUNNER.read_bytes()
    cache = runtime.runtime_dir / "sandgate-runner"
    cache.mkdir(mode=0o755, exist_ok=True)
    target = cache / f"runner-{hashlib.sha256(source).hexdigest()[:16]}-{runtime.executable.name}.pyc"
    if not target.exists():
        partial = cache / f".{target.name}.{os.getpid()}"
        compile_it = (
            "import py_compile, sys; py_compile.compile(sys.argv[1], sys.argv[2], sys.argv[3], doraise=True)"
        )
        subprocess.run(
            [str(runtime.runtime_dir / "bin" / "python"), "-I", "-c", compile_it, str(RUNNER), str(partial),
             SANDBOX_RUNNER.removesuffix("c")],
            env={}, capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        partial.chmod(0o644)
        os.replace(partial, target)  # atomic: concurrent workers never see half a file
    return target


@dataclass(frozen=True)
class _Layout:
    """The runtime's part of every sandbox's mounts: the same for every run of a process."""

    binds: tuple[_Bind, ...]  # the interpreter, the venv's site-packages, the runner
    font_binds: tuple[_Bind, ...]  # into the /tmp tmpfs, so mounted after it
    hide_args: tuple[str, ...]


@functools.cache
def _layout(runtime: Runtime) -> _Layout:
    # Worked out once: globbing and building these paths took about half a millisecond per run.
    return _Layout(
        binds=(*runtime.binds(), _Bind(str(compiled_runner(runtime)), SANDBOX_RUNNER)),
        font_binds=tuple(runtime.font_cache_binds()),
        hide_args=tuple(runtime.hide_args()),
    )


@functools.cache
def bwrap_options(bwrap: str) -> frozenset[str]:
    """The options this bwrap knows (e.g. --disable-userns arrived in 0.8)."""
    try:
        completed = subprocess.run([bwrap, "--help"], env={}, capture_output=True, text=True, timeout=10)
    except FileNotFoundError as exc:
        raise ImproperlyConfigured(f"bubblewrap is not installed at {bwrap}.") from exc
    return frozenset(re.findall(r"--[a-z0-9-]+", completed.stdout + completed.stderr))


# --- Mounts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bind:
    source: str  # host path
    dest: str  # sandbox path
    writable: bool = False


def _isolation_args(options: frozenset[str]) -> list[str]:
    args = [
        "--unshare-all",  # user, ipc, pid, net (loopback only), uts, cgroup
        "--unshare-user",  # --unshare-all only *tries*; --disable-userns needs it for sure
        "--new-session",
        "--die-with-parent",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--clearenv",
    ]
    if "--disable-userns" in options:
        args.append("--disable-userns")
    return args


def _system_args(limits: Limits, options: frozenset[str]) -> list[str]:
    args = [*_host_system_args(), "--proc", "/proc", *_DEV_ARGS]
    # /dev is a tmpfs nobody limits: /dev/shm gets a small one of its own (--size: bwrap 0.7+), the rest
    # is read-only (the device nodes in it are separate mounts and stay usable).
    if "--size" in options:
        args += ["--size", str(limits.file_size_mb * _MB), "--tmpfs", "/dev/shm"]
    args += ["--remount-ro", "/dev"]
    return args


@functools.cache
def _host_system_args() -> tuple[str, ...]:
    """/usr read-only, the top-level links into it as they are on this host, and a few /etc files."""
    args = ["--ro-bind", "/usr", "/usr"]
    for path in (*_TOP_LEVEL_DIRS, *_ETC_PATHS):
        if os.path.islink(path):  # mirror links (e.g. /lib -> usr/lib) rather than follow them
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    return tuple(args)


# A /dev of its own rather than bwrap's --dev: the data devices programs expect, bound from the host
# (owned by host root, so the sandbox cannot chmod them), and the fd links. No devpts, ptmx or tty:
# analysis code needs no terminal, so the kernel's tty layer is kept out of reach. (Not for speed: it
# measured 0.2-0.4 ms faster than --dev, within this VM's noise.)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_DEV_ARGS = (
    "--tmpfs", "/dev",
    *(arg for device in _DEVICES for arg in ("--dev-bind", device, device)),
    "--symlink", "/proc/self/fd", "/dev/fd",
    "--symlink", "/proc/self/fd/0", "/dev/stdin",
    "--symlink", "/proc/self/fd/1", "/dev/stdout",
    "--symlink", "/proc/self/fd/2", "/dev/stderr",
)  # fmt: skip


def _bind_args(binds: Iterable[_Bind]) -> list[str]:
    args: list[str] = []
    for bind in binds:
        args += ["--bind" if bind.writable else "--ro-bind", bind.source, bind.dest]
    return args


def _dataset_binds(datasets: Iterable[DatasetMount]) -> list[_Bind]:
    binds = []
    for dataset in datasets:
        if dataset.name in ("", ".", "..") or "/" in dataset.name or "\0" in dataset.name:
            raise ValueError(f"Invalid dataset name for /data: {dataset.name!r}")
        source = os.path.realpath(dataset.host_path)
        if not os.path.exists(source):
            raise FileNotFoundError(f"Dataset {dataset.name!r} not found at {dataset.host_path}")
        binds.append(_Bind(source, f"/data/{dataset.name}"))
    return binds


def _stage_unreachable(binds: list[_Bind]) -> tuple[list[_Bind], list[tuple[str, str]]]:
    """Route binds the dedicated uid cannot reach (e.g. pyenv under /root, mode 0700) via the stage.

    bwrap resolves its sources as the unprivileged uid, so such paths are first bind-mounted, as root,
    onto mount points in this process's stage directory, inside a private mount namespace of the child
    (see launcher.c). The host's own mounts never change.
    """
    routed, staged = [], []
    for bind in binds:
        if not _readable_by_others(bind.source):
            # Staging fixes the way in, not the file's own mode: fail here, not with a puzzling
            # PermissionError inside the user's code.
            raise PermissionError(
                f"{bind.source} must be readable by others: the sandbox runs as its own uid"
            )
        if _traversable_by_others(os.path.dirname(bind.source)):
            routed.append(bind)
            continue
        mount_point = _mount_point(bind.source)
        staged.append((bind.source, mount_point))
        routed.append(_Bind(mount_point, bind.dest, bind.writable))
    return routed, staged


def _mount_point(source: str) -> str:
    """A mount point for `source` in this process's stage directory, shared by all its runs.

    Concurrent runs share it safely: each mounts onto it in a mount namespace of its own, so on the
    host it stays an empty directory (or file), and nothing is left to clean up after a run. Made if
    missing on every run (one system call), so a temp-dir cleaner removing it breaks nothing.
    """
    is_dir = os.path.isdir(source)
    name = hashlib.sha256(f"{is_dir}:{source}".encode()).hexdigest()[:32]
    path = _stage_dir(os.getpid()) / name
    if is_dir:
        path.mkdir(mode=0o755, exist_ok=True)
    else:
        path.touch(mode=0o644, exist_ok=True)
    return str(path)


@functools.cache
def _stage_dir(pid: int) -> Path:
    """This process's stage directory (by pid: a forked pool child makes its own), removed at exit.

    Two threads making the first one at once may each make one; both are removed at exit.
    """
    # The pid in the name lets a later worker sweep it should this process die first (sweep_stale).
    root = Path(tempfile.mkdtemp(prefix=f"sandgate-stage-{pid}-"))
    root.chmod(0o711)  # bwrap, already the dedicated uid, must pass through; nobody may list it
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.lru_cache(maxsize=1024)
def _traversable_by_others(directory: str) -> bool:
    """Whether every directory from / down to this one lets others through (remembered per process)."""
    parent = os.path.dirname(directory)
    if parent != directory and not _traversable_by_others(parent):
        return False
    return bool(os.stat(directory).st_mode & stat.S_IXOTH)


def _readable_by_others(path: str) -> bool:
    mode = os.stat(path).st_mode
    needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & needed == needed


def _env_args(library_dir: str | None) -> list[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": MPLCONFIGDIR,
        # One BLAS/OpenMP thread: each thread counts against RLIMIT_NPROC and reserves address space.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if library_dir:
        env["LD_LIBRARY_PATH"] = library_dir
    args: list[str] = []
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


# --- The launcher, between the worker and bwrap (launcher.c) ---------------------------------------


def _dedicated_uid() -> int:
    return _HOST_UID_BASE + threading.get_native_id()


def _rlimits(limits: Limits) -> tuple[tuple[int, tuple[int, int]], ...]:
    wanted = {
        # Soft limit: SIGXCPU; the hard limit a second later: SIGKILL, should SIGXCPU be ignored.
        resource.RLIMIT_CPU: (limits.cpu_seconds, limits.cpu_seconds + 1),
        resource.RLIMIT_AS: (limits.memory_mb * _MB,) * 2,
        resource.RLIMIT_FSIZE: (limits.file_size_mb * _MB,) * 2,
        resource.RLIMIT_NOFILE: (_OPEN_FILES,) * 2,
        resource.RLIMIT_NPROC: (limits.max_processes,) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    return tuple((which, _within_hard_limit(which, value)) for which, value in wanted.items())


def _within_hard_limit(which: int, value: tuple[int, int]) -> tuple[int, int]:
    # An unprivileged worker cannot raise its own hard limits; never ask for more than it has.
    hard = resource.getrlimit(which)[1]
    if os.geteuid() == 0 or hard == resource.RLIM_INFINITY:
        return value
    return (min(value[0], hard), min(value[1], hard))


def _launcher_args(
    rlimits: tuple[tuple[int, tuple[int, int]], ...],
    staged: Iterable[tuple[str, str]],
    cgroup_join: Iterable[str],
    host_uid: int | None,
) -> list[str]:
    """The launcher's steps (launcher.c), in its order: stage, join the cgroups, rlimits, then the uid."""
    args: list[str] = []
    for source, mount_point in staged:
        args += ["--stage", source, mount_point]
    for path in cgroup_join:
        args += ["--cgroup", path]
    for which, (soft, hard) in rlimits:
        args += ["--rlimit", str(which), str(soft), str(hard)]
    if host_uid is not None:
        args += ["--uid", str(host_uid)]
    return args


# --- Talking to the process ----------------------------------------------------------------------


class _Capped:
    """Keeps the first `limit` bytes of a stream and remembers whether more came."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.truncated = True
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        text = storable(self.data.decode("utf-8", errors="replace"))
        return text + TRUNCATION_MARKER if self.truncated else text


@dataclass
class _Exchange:
    stdout: _Capped
    stderr: _Capped
    result: _Capped
    stopped: str | None = None  # why the worker killed the sandbox: "wall", "cpu" or "result"

    @property
    def timed_out(self) -> bool:
        return self.stopped == "wall"


class _CpuWatch:
    """The CPU time of all the run's processes together, read from its cgroup, against its cpu_seconds.

    Counted from the hand-over (a warm sandbox's, from the end of its imports: they are not the run's).
    """

    def __init__(self, cgroup: cgroups.RunCgroup, start: float, cpu_seconds: int) -> None:
        self.cgroup = cgroup
        self.start = start
        self.cpu_seconds = cpu_seconds
        self.used = 0.0

    @classmethod
    def begin(cls, cgroup: cgroups.RunCgroup, cpu_seconds: int) -> _CpuWatch | None:
        start = cgroup.cpu_seconds()
        return None if start is None else cls(cgroup, start, cpu_seconds)

    def over(self) -> bool:
        total = self.cgroup.cpu_seconds()
        if total is not None:
            self.used = total - self.start
        return self.used > self.cpu_seconds


class _Stopper:
    """When the worker kills a running sandbox: past the wall clock, past the CPU limit of the whole run,
    or once the result channel is flooded past its cap. After a kill, a grace period to drain the pipes."""

    def __init__(self, process: subprocess.Popen, deadline: float, cpu: _CpuWatch | None) -> None:
        self.process = process
        self.deadline = deadline
        self.cpu = cpu
        self.cpu_due = time.monotonic() + _CPU_POLL_SECONDS

    def wake_at(self, exchange: _Exchange) -> float:
        if exchange.stopped is not None or self.cpu is None:
            return self.deadline
        return min(self.deadline, self.cpu_due)

    def check(self, exchange: _Exchange) -> None:
        """Kill the sandbox if it is due; the kill starts the grace period. Never kills twice."""
        if exchange.stopped is not None:
            return
        now = time.monotonic()
        if now >= self.deadline:
            exchange.stopped = "wall"
        elif exchange.result.truncated:
            exchange.stopped = "result"  # the runner's own message is never this large: forged
        elif self.cpu is not None and now >= self.cpu_due:
            self.cpu_due = now + _CPU_POLL_SECONDS
            if self.cpu.over():
                exchange.stopped = "cpu"
        if exchange.stopped is not None:
            _kill_tree(self.process)
            self.deadline = now + _KILL_GRACE_SECONDS

    def grace_over(self, exchange: _Exchange) -> bool:
        return exchange.stopped is not None and time.monotonic() >= self.deadline


def _exchange(
    process: subprocess.Popen,
    code: bytes,
    result_fd: int,
    stopper: _Stopper,
    output_bytes: int,
    result_cap: int,
    on_output: OutputSink | None = None,
) -> _Exchange:
    """Feed the code on stdin and read stdout, stderr and the result pipe until EOF or the stopper kills.

    What stdout and stderr carry is also told to `on_output` as it comes (the run's live output).
    """
    exchange = _Exchange(_Capped(output_bytes), _Capped(output_bytes), _Capped(result_cap))
    readers = {
        process.stdout.fileno(): _Forwarded(exchange.stdout, "stdout", on_output),
        process.stderr.fileno(): _Forwarded(exchange.stderr, "stderr", on_output),
        result_fd: exchange.result,
    }
    pending = memoryview(code)
    with selectors.DefaultSelector() as selector:
        for fd in readers:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        os.set_blocking(process.stdin.fileno(), False)
        selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)
        while selector.get_map():
            stopper.check(exchange)
            if stopper.grace_over(exchange):
                break  # killed, and still not all EOF after the grace period: stop reading
            for key, _ in selector.select(max(stopper.wake_at(exchange) - time.monotonic(), 0)):
                if key.fd in readers:
                    _read_into(selector, key.fd, readers[key.fd])
                else:
                    pending = _write_code(selector, process, pending)
    _close_pipes(process)
    _wait_within(process, stopper, exchange)
    return exchange


class _Forwarded:
    """A stream kept (`_Capped`) and told, decoded, to the output sink as it comes."""

    def __init__(self, capped: _Capped, name: str, on_output: OutputSink | None) -> None:
        self.capped = capped
        self.name = name
        self.on_output = on_output
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes) -> None:
        self.capped.feed(chunk)
        if self.on_output is not None:
            self.on_output(self.name, self.decoder.decode(chunk))


def _read_into(selector: selectors.BaseSelector, fd: int, sink: _Capped | _Forwarded) -> None:
    chunk = os.read(fd, _READ_CHUNK)
    if chunk:
        sink.feed(chunk)  # past the cap this only drains, so the writer never blocks on a full pipe
    else:
        selector.unregister(fd)


def _write_code(
    selector: selectors.BaseSelector, process: subprocess.Popen, pending: memoryview
) -> memoryview:
    try:
        pending = pending[os.write(process.stdin.fileno(), pending[:_READ_CHUNK]) :]
    except BrokenPipeError:
        pending = pending[:0]  # the sandbox died before reading everything; its exit status says why
    if not pending:
        selector.unregister(process.stdin.fileno())
        process.stdin.close()  # EOF: the runner's read() returns
    return pending


def _close_pipes(process: subprocess.Popen) -> None:
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream and not stream.closed:
            stream.close()


def _wait_within(process: subprocess.Popen, stopper: _Stopper, exchange: _Exchange) -> None:
    # Every pipe reached EOF, yet the code can still be running (it closed its streams): the wall clock
    # and the CPU limit still apply.
    while True:
        try:
            process.wait(timeout=max(stopper.wake_at(exchange) - time.monotonic(), 0.001))
            return
        except subprocess.TimeoutExpired:
            stopper.check(exchange)
            if stopper.grace_over(exchange):
                _kill_tree(process)
                process.wait()
                return


def _kill_tree(process: subprocess.Popen) -> None:
    # The group holds both bwrap processes; the inner one is pid 1 of the sandbox's pid namespace, and
    # when it dies the kernel kills everything else in there, double-forked daemons included.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --- The result ------------------------------------------------------------------------------------


_SIGNAL_REASONS = {
    signal.SIGXCPU: "a process reached the CPU limit (its own CPU time)",
    signal.SIGKILL: "the CPU time hard limit, the wall-clock timeout or the kernel (out of memory)",
    signal.SIGXFSZ: "the file size limit was reached",
    signal.SIGSEGV: "a crash, often memory exhaustion inside native code",
}
_REPORT_KEYS = frozenset({"results", "error", "artifacts"})


def _result(
    exchange: _Exchange,
    returncode: int,
    limits: Limits,
    duration_ms: int,
    record: dict,
    oom_killed: bool,
    cpu_used: float | None,
) -> SandboxResult:
    results, error, reported = [], None, None
    try:
        payload = _payload(exchange.result, limits)
    except MalformedResult as exc:
        payload, error = None, exc.error()
    if payload is not None:
        results, error, reported = payload["results"], payload["error"], payload["artifacts"]
    artifacts, skipped = accept_artifacts(reported, limits)
    if exchange.stopped == "wall":
        error = (payload or {}).get("error") or {
            "name": "SandboxTimeout",
            "value": f"the code ran past the wall-clock limit of {limits.wall_seconds} s and was stopped",
            "traceback": "",
        }
    elif exchange.stopped == "cpu":
        error = _cpu_limit_error(limits, cpu_used)
    elif exchange.stopped == "result" or exchange.result.truncated:
        error = MalformedResult(f"the result channel carried more than {_result_cap(limits)} bytes").error()
    elif payload is None and error is None and oom_killed:
        error = {
            "name": "SandboxError",
            "value": f"the sandbox reached its memory limit of {limits.memory_mb} MB and was stopped",
            "traceback": "",
        }
    elif payload is None and error is None:
        error = _killed_error(returncode)
    return SandboxResult(
        stdout=exchange.stdout.text(),
        stderr=exchange.stderr.text(),
        results=results,
        error=error,
        timed_out=exchange.timed_out,
        duration_ms=duration_ms,
        limits=record,
        artifacts=artifacts,
        skipped_artifacts=skipped,
    )


def _payload(channel: _Capped, limits: Limits) -> dict | None:
    """The runner's one JSON document, checked; None when nothing came (the sandbox died first).

    The code ran in the runner's process and may have written on the channel itself: anything but the
    runner's shapes within their caps raises MalformedResult, and the run ends failed saying so.
    """
    if not channel.data or channel.truncated:
        return None  # truncated: the stopper killed the sandbox and says why
    try:
        payload = json.loads(channel.data)
    except ValueError as exc:
        raise MalformedResult(f"the result channel did not carry one JSON document ({exc})") from None
    if not isinstance(payload, dict) or frozenset(payload) != _REPORT_KEYS:
        raise MalformedResult("the result document is not results, error and artifacts")
    check_results(payload["results"], limits)
    check_error(payload["error"], limits)
    _check_reports(payload["artifacts"])
    return payload


def _check_reports(reported: object) -> None:
    """The runner reports each file under /output as {name, data} or {name, reason}, all strings."""
    if not isinstance(reported, list):
        raise MalformedResult("artifacts are not a list")
    for index, item in enumerate(reported):
        shape_ok = isinstance(item, dict) and frozenset(item) in ({"name", "data"}, {"name", "reason"})
        if not shape_ok or not all(isinstance(value, str) for value in item.values()):
            raise MalformedResult(f"artifacts[{index}] is not a name with data or a reason")


def _cpu_limit_error(limits: Limits, used: float | None) -> dict:
    spent = f"{used:.2f} s" if used is not None else "more"
    value = (
        f"the run's processes together used {spent} of CPU time, over its CPU limit of "
        f"{limits.cpu_seconds} s, and were stopped"
    )
    return {"name": "CPULimitExceeded", "value": value, "traceback": ""}


def _killed_error(returncode: int) -> dict:
    # bwrap reports a child killed by signal N as exit status 128 + N.
    signum = returncode - 128 if returncode > 128 else -returncode if returncode < 0 else 0
    if not signum:
        value = f"the sandbox exited with status {returncode} without a result"
    else:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = "unknown"
        reason = _SIGNAL_REASONS.get(signum)
        value = f"the process was killed (signal {signum}, {name})" + (f": {reason}" if reason else "")
    return {"name": "SandboxError", "value": value, "traceback": ""}


def _limits_record(
    limits: Limits, options: frozenset[str], host_uid: int | None, cgroup: cgroups.RunCgroup, filtered: bool
) -> dict:
    """What was in force for this run, with the caveats spelled out for the execution record."""
    uid = host_uid if host_uid is not None else os.getuid()
    caveats = []
    if not cgroup.memory:
        caveats.append(
            "no memory cgroup: memory_mb (RLIMIT_AS, address space rather than resident memory) applies "
            "per process, so max_processes processes could use that many times more"
        )
    if cgroup.cpu is None:
        caveats.append(
            "no CPU accounting cgroup: cpu_seconds (RLIMIT_CPU) applies per process, so max_processes "
            "processes could use that many times more"
        )
    if not filtered:
        caveats.append(
            "no seccomp filter on this architecture: every system call the namespaces allow is available"
        )
    if host_uid is None and not cgroup.pids:
        caveats.append(
            f"max_processes (RLIMIT_NPROC) counts every process and thread of host uid {uid}, "
            "the worker's own included"
        )
    if uid == 0:
        caveats.append("the sandbox runs as host root: RLIMIT_NPROC is not enforced")
    return {
        "backend": "local",
        **{name: getattr(limits, name) for name in LIMIT_NAMES},
        "max_processes": limits.max_processes if uid != 0 or cgroup.pids else None,
        "open_files": _OPEN_FILES,
        "core_dumps": False,
        "network": False,
        "user_namespaces_disabled": "--disable-userns" in options,
        "seccomp": seccomp.denied_syscalls() if filtered else None,
        **cgroup.record(),
        "host_uid": uid,
        "caveats": caveats,
    }


LIMIT_NAMES = (
    "cpu_seconds", "wall_seconds", "memory_mb", "file_size_mb", "output_bytes", "max_processes",
    "scratch_mb", "artifact_count", "artifact_mb", "results_mb",
)  # fmt: skip


# --- Clean-up ----------------------------------------------------------------------------------------


# What a worker leaves on the host while it lives: its stage directory "sandgate-stage-<pid>-…", its
# warm sandboxes' "sandgate-warm-<pid>-…" in the temp dir, and its runs' cgroups (cgroups.create).
_LEFTOVER = re.compile(r"^sandgate-(?:stage|warm)-(\d+)-\w+$")


def sweep_stale() -> int:
    """Remove what sandboxes of dead workers left behind: stage and warm directories, and cgroups.

    A worker cleans up after each run, and idle warm sandboxes die with it (--die-with-parent), but a
    worker killed with SIGKILL, or a pool child that its parent stops, never runs that clean-up. The
    names carry the creating pid; only a dead pid's are removed, so workers sharing the host keep
    theirs. Called at every worker's start-up (config/celery.py). Returns how many were removed.
    """
    removed = cgroups.sweep_stale()
    for path in Path(tempfile.gettempdir()).glob("sandgate-*"):
        match = _LEFTOVER.match(path.name)
        if match and path.is_dir() and not path.is_symlink() and not cgroups.pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


# Time a killed run may still be counted after its grace period: reaping the killed process tree.
_REAP_SECONDS = 1.0


def run_seconds_ceiling(limits: Limits) -> float:
    """The longest a run at `limits` is counted (and so charged) here: its wall limit, the grace period
    after the kill at that limit, and the reaping of the killed tree. A run's budget hold is priced at it."""
    return limits.wall_seconds + _KILL_GRACE_SECONDS + _REAP_SECONDS
