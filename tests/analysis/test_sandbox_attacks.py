"""The attack suite: hostile code against the real local sandbox. Each attack must end as a clear failed
(or harmless) execution, the worker (this test process) must survive, and nothing may leak."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from analysis.sandboxes import local
from analysis.sandboxes.base import CodeIntegrityError, DatasetMount, Limits, accept_artifacts
from analysis.sandboxes.local import LocalSandbox
from tests.analysis.test_sandbox_local import processes_mentioning, run


@pytest.fixture(autouse=True)
def _a_secret_in_the_worker(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SANDGATE_ATTACK_SECRET_KEY", "sandgate-attack-secret")


def everything(result) -> str:
    return result.stdout + result.stderr + repr(result.results) + repr(result.error)


def test_tcp_to_local_services_outside_addresses_and_dns_all_fail():
    result = run("""
        import socket
        for host, port in [("127.0.0.1", 5432), ("127.0.0.1", 6379), ("10.0.0.1", 80), ("8.8.8.8", 53)]:
            try:
                socket.create_connection((host, port), timeout=2)
                print(host, "connected")
            except OSError as exc:
                print(host, "blocked", exc.errno)
        try:
            socket.getaddrinfo("pypi.org", 443)
            print("dns resolved")
        except OSError as exc:
            print("dns failed")
    """)

    lines = result.stdout.splitlines()
    assert len(lines) == 5, result
    assert all(" blocked " in line for line in lines[:4]), lines
    assert lines[4] == "dns failed"


def test_reading_host_secrets_project_and_process_environment_shows_nothing():
    project = Path(django_settings.BASE_DIR)
    result = run(f"""
        import os
        for path in ["/etc/shadow", "/root", {str(project / ".env")!r}, {str(project)!r}, "/proc/1/environ",
                     "/proc/1/cmdline", "/proc/self/environ", "/proc/2/environ"]:
            try:
                data = open(path, "rb").read() if not os.path.isdir(path) else os.listdir(path)
                print(path, "READ", data)
            except OSError as exc:
                print(path, "denied", type(exc).__name__)
        print("environ", dict(os.environ))
    """)

    assert result.succeeded, result.error
    assert "/etc/shadow denied" in result.stdout and "/root denied" in result.stdout
    assert f"{project} denied" in result.stdout and f"{project / '.env'} denied" in result.stdout
    assert "/proc/1/cmdline READ" in result.stdout  # it may read bwrap's command line: no secret in it
    assert "sandgate-attack-secret" not in everything(result)
    assert "SANDGATE_ATTACK_SECRET_KEY" not in everything(result)
    environ = next(line for line in result.stdout.splitlines() if line.startswith("environ"))
    assert "DATABASE_URL" not in environ and "DJANGO" not in environ and "MPLBACKEND" in environ


def mountinfo_inside(datasets: list[DatasetMount]) -> list[tuple[str, str]]:
    """(root, mount point) of each mount the sandbox sees in /proc/self/mountinfo."""
    result = run("print(open('/proc/self/mountinfo').read())", datasets=datasets)
    assert result.succeeded, result.error
    return [(line.split()[3], line.split()[4]) for line in result.stdout.splitlines() if line.strip()]


def test_mountinfo_shows_sandbox_mount_points_and_as_roots_only_the_allow_listed_sources(tmp_path: Path):
    data = tmp_path / "sales.csv"
    data.write_text("month,revenue\n2024-01,10\n")
    data.chmod(0o644)
    tmp_path.chmod(0o755)
    runtime = local.inspect_runtime(Path(django_settings.SANDBOX_RUNTIME_DIR))
    layout = local._layout(runtime)
    host = local._host_system_args()
    sources = {bind.source for bind in (*layout.binds, *layout.font_binds)}
    sources |= {host[i + 1] for i, arg in enumerate(host) if arg == "--ro-bind"}  # /usr and a few /etc files
    sources |= {str(data), *local._DEVICES, "/newroot"}  # bwrap's own root tmpfs, inside its own tmpfs

    mounts = mountinfo_inside([DatasetMount("sales.csv", str(data))])

    inside = ("/", "/usr", "/etc/", "/proc", "/dev", "/opt/sandgate", "/tmp", "/output", "/data/sales.csv")
    assert all(point == "/" or point.startswith(inside[1:]) for _, point in mounts), mounts
    # A bind mount's root is its source's path in the source's file system: that much the kernel shows,
    # for the allow-listed sources only (docs/security.md, "What /proc/self/mountinfo shows").
    roots = {root for root, _ in mounts if root != "/"}
    assert all(any(source.endswith(root) for source in sources) for root in roots), roots - sources
    assert all(any(source.endswith(root) for root in roots) for source in sources), sources - roots
    assert not any(".env" in root or root.rstrip("/") == str(django_settings.BASE_DIR) for root in roots)


def test_writing_outside_scratch_fails_and_scratch_is_size_capped():
    result = run(
        """
        for path in ["/etc/x", "/usr/x", "/opt/sandgate/x", "/data/x", "/x"]:
            try:
                open(path, "w").write("x")
                print(path, "written")
            except OSError:
                print(path, "refused")
        with open("/tmp/fill", "wb") as handle:
            for _ in range(64):
                handle.write(b"\\0" * (1024 * 1024))
        """,
        scratch_mb=4,
    )

    outside = ["/etc/x", "/usr/x", "/opt/sandgate/x", "/data/x", "/x"]
    assert result.stdout.splitlines() == [f"{path} refused" for path in outside]
    assert result.error["name"] == "OSError" and "No space left" in result.error["value"], result.error


def test_memory_bomb_spread_over_processes_is_capped_as_a_whole():
    result = run(
        """
        import os, sys
        for i in range(4):
            if os.fork() == 0:
                blocks = []
                while len(blocks) < 12:
                    blocks.append(b"x" * (16 * 1024 * 1024))
                    os.write(1, f"{i} {len(blocks) * 16}\n".encode())  # one write: lines never interleave
                os._exit(0)
        statuses = [os.wait()[1] for _ in range(4)]
        print("killed", sum(os.WIFSIGNALED(s) for s in statuses))
        """,
        memory_mb=256,
    )

    assert result.limits["cgroup_memory"] is True
    reached: dict[str, int] = {}
    for line in result.stdout.splitlines():
        if not line.startswith("killed"):
            child, mb = line.split()
            reached[child] = max(reached.get(child, 0), int(mb))
    assert sum(reached.values()) <= 256, reached  # four times 192 MB were asked for; 256 MB in all
    assert not result.succeeded or "killed 0" not in result.stdout


def test_fork_bomb_is_contained_and_leaves_no_process_behind():
    marker = f"sandgate-bomb-{uuid.uuid4().hex}"
    result = run(
        f"""
        import os, sys
        sys.argv.append({marker!r})
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        max_processes=16,
        wall_seconds=2,
    )

    assert not result.succeeded
    assert result.limits["cgroup_pids"] is True
    assert processes_mentioning(marker) == []


def test_cpu_loop_in_several_processes_is_stopped():
    result = run("import os\nos.fork()\nos.fork()\nwhile True:\n    pass\n", cpu_seconds=1, wall_seconds=3)

    assert not result.succeeded
    assert result.timed_out or "CPU limit" in result.error["value"]


def cpu_used(result) -> float:
    return float(re.search(r"used ([0-9.]+) s of CPU time", result.error["value"]).group(1))


def test_eight_processes_burning_cpu_are_stopped_when_their_total_passes_the_cpu_limit():
    marker = f"sandgate-burn-{uuid.uuid4().hex}"
    result = run(
        f"""
        import os, sys
        sys.argv.append({marker!r})
        for _ in range(7):
            if os.fork() == 0:
                break
        while True:
            pass
        """,
        cpu_seconds=2,
        wall_seconds=60,
    )

    assert not result.succeeded and not result.timed_out
    assert result.error["name"] == "CPULimitExceeded", result.error
    assert "CPU limit of 2 s" in result.error["value"]
    # Near the limit: about 2/8 s each. Per process, RLIMIT_CPU alone would have let them use 8 x 2 s.
    assert 2 <= cpu_used(result) < 3.5, result.error
    assert result.limits["cgroup_cpu"] is True
    assert processes_mentioning(marker) == []


def test_processes_that_closed_every_pipe_are_still_stopped_at_the_cpu_limit():
    result = run(
        """
        import os
        for fd in range(3, 64):  # the result channel among them
            try:
                os.close(fd)
            except OSError:
                pass
        os.close(1)
        os.close(2)
        for _ in range(3):
            if os.fork() == 0:
                break
        while True:
            pass
        """,
        cpu_seconds=1,
        wall_seconds=60,
    )

    assert result.error["name"] == "CPULimitExceeded", result.error
    assert 1 <= cpu_used(result) < 2.5 and not result.timed_out


def test_ptrace_mount_unshare_io_uring_bpf_and_keyring_are_denied_by_seccomp():
    result = run("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        calls = {"ptrace": (101, 16, 1, 0, 0), "mount": (165, 0, 0, 0, 0, 0), "unshare": (272, 0x20000),
                 "setns": (308, 0, 0), "io_uring_setup": (425, 1, 0), "bpf": (321, 0, 0, 0),
                 "keyctl": (250, 0, 0), "perf_event_open": (298, 0, 0, 0, 0, 0)}
        for name, (number, *args) in calls.items():
            print(name, libc.syscall(number, *args), os.strerror(ctypes.get_errno()))
        import socket
        for family in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET):
            try:
                socket.socket(family, socket.SOCK_RAW if family != socket.AF_INET else socket.SOCK_STREAM)
                print(family, "created")
            except OSError as exc:
                print(int(family), "denied")
        socket.socketpair()
        print("unix sockets work")
    """)

    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:8]] == [
        "ptrace",
        "mount",
        "unshare",
        "setns",
        "io_uring_setup",
        "bpf",
        "keyctl",
        "perf_event_open",
    ]
    assert all(line.endswith("-1 Operation not permitted") for line in lines[:8]), lines
    assert all(line.endswith("denied") for line in lines[8:12]), lines
    assert lines[12] == "unix sockets work"
    assert "ptrace" in result.limits["seccomp"]


def test_killing_the_parent_or_everything_ends_as_a_failed_run_and_the_worker_survives():
    result = run("""
        import os, signal
        print("parent is", os.getppid(), flush=True)
        os.kill(os.getppid(), signal.SIGKILL)
        try:
            os.kill(-1, signal.SIGKILL)  # everything it may signal: nothing but itself, in its namespace
        except ProcessLookupError:
            print("nobody else to kill", flush=True)
        os.killpg(0, signal.SIGKILL)
    """)

    assert not result.succeeded
    assert result.error["name"] == "SandboxError" and "signal 9" in result.error["value"], result.error
    assert "nobody else to kill" in result.stdout
    assert run("print('still here')").stdout == "still here\n"  # the next run works


def test_output_symlink_and_special_files_are_never_followed_or_returned():
    result = run("""
        import os
        os.symlink("/etc/passwd", "/output/passwd")
        os.symlink("/opt/sandgate/runner.py", "/output/runner.py")
        os.mkfifo("/output/pipe")
        os.mkdir("/output/dir")
        open("/output/report.csv", "w").write("a,b\\n1,2\\n")
    """)

    assert result.succeeded, result.error
    assert [(a.name, a.content) for a in result.artifacts] == [("report.csv", b"a,b\n1,2\n")]
    assert sorted(s["name"] for s in result.skipped_artifacts) == ["dir", "passwd", "pipe", "runner.py"]


def test_artifact_count_and_total_size_are_capped():
    result = run(
        """
        for i in range(8):
            open(f"/output/f{i}.txt", "w").write("x" * 100)
        try:
            open("/output/huge.bin", "wb").write(b"\\0" * (3 * 1024 * 1024))
        except OSError as exc:
            print("huge", exc.strerror)
        """,
        artifact_count=5,
        artifact_mb=2,
    )

    assert [a.name for a in result.artifacts] == [f"f{i}.txt" for i in range(5)]
    assert "huge No space left on device" in result.stdout
    assert {s["name"] for s in result.skipped_artifacts} >= {"f5.txt", "f6.txt", "f7.txt"}


def test_forged_artifact_reports_are_rejected_by_the_host():
    limits = Limits(artifact_count=2, artifact_mb=1)
    forged = [
        {"name": "../../etc/cron.d/x", "data": base64.b64encode(b"x").decode()},
        {"name": ".hidden", "data": base64.b64encode(b"x").decode()},
        {"name": "ok.txt", "data": "not base64!"},
        {"name": "big.bin", "data": base64.b64encode(b"\0" * (2 * 1024 * 1024)).decode()},
        {"name": "a.txt", "data": base64.b64encode(b"a").decode()},
        {"name": "a.txt", "data": base64.b64encode(b"again").decode()},
        "not a dict",
    ]

    accepted, skipped = accept_artifacts(forged, limits)

    assert [(a.name, a.content) for a in accepted] == [("a.txt", b"a")]
    assert len(skipped) == 6


def test_code_that_is_not_the_approved_code_is_refused_before_anything_runs(tmp_path: Path):
    approved = "print('approved')"
    tampered = "import os; open('/output/x', 'w')"
    import hashlib

    with pytest.raises(CodeIntegrityError):
        LocalSandbox().run(
            code=tampered,
            code_sha256=hashlib.sha256(approved.encode()).hexdigest(),
            datasets=[],
            limits=Limits(),
        )
