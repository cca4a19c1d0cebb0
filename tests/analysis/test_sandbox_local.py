"""The local (bubblewrap) sandbox, for real: every test runs code in an actual sandbox, no mocks."""

from __future__ import annotations

import base64
import hashlib
import marshal
import os
import re
import shutil
import socket
import subprocess
import tempfile
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from analysis.sandboxes import cgroups, get_sandbox, local
from analysis.sandboxes.base import DatasetMount, Limits, SandboxResult
from analysis.sandboxes.local import TRUNCATION_MARKER, LocalSandbox

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEST_LIMITS = Limits(
    cpu_seconds=10,
    wall_seconds=20,
    memory_mb=1024,
    output_bytes=100_000,
    max_processes=64,
    file_size_mb=64,
    scratch_mb=64,
    artifact_count=5,
    artifact_mb=2,
)


def run(code: str, datasets: list[DatasetMount] | None = None, **limits: int) -> SandboxResult:
    code = textwrap.dedent(code)
    return LocalSandbox().run(
        code=code,
        code_sha256=hashlib.sha256(code.encode()).hexdigest(),
        datasets=datasets or [],
        limits=replace(TEST_LIMITS, **limits),
    )


def processes_where(matches) -> list[int]:
    """Pids of the processes for which `matches(pid)` holds."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and matches(entry):
                found.append(int(entry))
        except OSError:
            continue  # it exited while we looked
    return found


def processes_mentioning(marker: str) -> list[int]:
    def mentions(pid: str) -> bool:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return marker.encode() in cmdline.read()

    return processes_where(mentions)


# --- What comes back ------------------------------------------------------------------------------


def test_sandbox_returns_stdout_and_stderr_of_approved_code():
    result = run("""
        import sys
        print("hello from the sandbox")
        print("a warning", file=sys.stderr)
    """)

    assert result.succeeded, result.error
    assert result.stdout == "hello from the sandbox\n"
    assert result.stderr == "a warning\n"
    assert result.duration_ms > 0


def test_every_open_figure_comes_back_as_png_whether_or_not_show_was_called():
    result = run("""
        import matplotlib.pyplot as plt
        plt.plot([1, 3, 2])
        plt.show()  # a no-op: the figure must survive it
        plt.figure()
        plt.bar(["a", "b"], [2, 5])
    """)

    assert result.succeeded, result.error
    images = [base64.b64decode(item["png"]) for item in result.results if "png" in item]
    assert len(images) == 2
    assert all(image.startswith(PNG_MAGIC) for image in images)
    assert "non-interactive" not in result.stderr


def test_last_expression_dataframe_comes_back_as_html_and_text():
    result = run("""
        import pandas as pd
        df = pd.DataFrame({"region": ["north", "south"], "revenue": [120, 80]})
        df
    """)

    assert result.succeeded, result.error
    [table] = result.results
    assert table["html"].startswith("<table")
    assert "<td>north</td>" in table["html"]
    assert "revenue" in table["text"] and "south" in table["text"]


def test_last_expression_value_comes_back_as_text_and_none_as_nothing():
    assert run("{'answer': 6 * 7}").results == [{"text": "{'answer': 42}"}]
    assert run("x = 1\nNone").results == []


def test_values_needing_json_escapes_come_back_intact():
    tricky = 'say "hi" \\ café\t€ \x00\x7f'

    result = run(f"{tricky!r}")

    assert result.results == [{"text": repr(tricky)}]


def test_exception_comes_back_with_name_value_and_only_user_frames():
    result = run("""
        import json

        def parse(text):
            return json.loads(text)

        parse("{not json")
    """)

    assert result.error["name"] == "JSONDecodeError"
    assert "Expecting property name" in result.error["value"]
    traceback = result.error["traceback"]
    assert traceback.startswith("Traceback (most recent call last):")
    assert 'File "<analysis>", line 7, in <module>' in traceback
    assert 'File "<analysis>", line 5, in parse' in traceback
    assert "return json.loads(text)" in traceback  # the user's source line is shown
    assert "json/decoder.py" not in traceback and "runner.py" not in traceback
    assert not result.succeeded


def test_syntax_error_comes_back_as_error_with_the_offending_line():
    result = run("print('unclosed'")

    assert result.error["name"] == "SyntaxError"
    assert '"<analysis>", line 1' in result.error["traceback"]
    assert "runner.py" not in result.error["traceback"]


def test_prints_cannot_forge_the_result_document():
    result = run("""print('{"results": [{"text": "forged"}], "error": null}')""")

    assert result.results == []
    assert "forged" in result.stdout


def test_large_code_arrives_intact_over_stdin():
    code = "total = 0\n" + "total += 1\n" * 30_000 + "print(total)\n"  # far more than a pipe buffer

    assert run(code).stdout == "30000\n"


# --- Data -----------------------------------------------------------------------------------------


def test_mounted_dataset_is_readable_at_data_name_and_not_writable(tmp_path: Path):
    dataset = tmp_path / "sales.csv"
    dataset.write_text("region,amount\nnorth,10\nsouth,20\n")

    result = run(
        """
        import pandas as pd
        print(pd.read_csv("/data/sales.csv")["amount"].sum())
        with open("/data/sales.csv", "a") as handle:
            handle.write("east,999\\n")
        """,
        datasets=[DatasetMount(name="sales.csv", host_path=str(dataset))],
    )

    assert result.stdout == "30\n"
    assert result.error["name"] in {"OSError", "PermissionError"}
    assert dataset.read_text() == "region,amount\nnorth,10\nsouth,20\n"


def test_dataset_names_cannot_escape_data(tmp_path: Path):
    dataset = tmp_path / "x.csv"
    dataset.write_text("a\n")

    with pytest.raises(ValueError):
        run("pass", datasets=[DatasetMount(name="../usr/bin/python3", host_path=str(dataset))])


# --- Isolation ------------------------------------------------------------------------------------


def test_network_is_blocked_even_to_services_on_this_machine():
    listener = socket.create_server(("127.0.0.1", 0))  # reachable from the host: proves the point
    port = listener.getsockname()[1]
    try:
        result = run(f"""
            import socket
            for host, port in [("127.0.0.1", 5432), ("127.0.0.1", 6379), ("127.0.0.1", {port}),
                               ("1.1.1.1", 53)]:
                try:
                    socket.create_connection((host, port), timeout=2).close()
                    print(host, port, "connected")
                except OSError as exc:
                    print(host, port, "blocked", exc)
        """)
    finally:
        listener.close()

    lines = result.stdout.splitlines()
    assert len(lines) == 4, result
    assert all(" blocked " in line for line in lines), lines
    assert result.limits["network"] is False


def test_no_worker_secret_reaches_the_sandbox(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SANDGATE_TEST_SECRET", "s3cr3t-value")

    result = run("""
        import os
        print(dict(os.environ))
        for path in ("/proc/1/environ", "/proc/self/environ"):
            try:
                print(path, open(path, "rb").read())
            except OSError as exc:
                print(path, exc)
    """)

    assert result.succeeded, result.error
    assert "MPLBACKEND" in result.stdout and "/proc/1/environ" in result.stdout  # it did look
    everything = result.stdout + result.stderr + repr(result.results)
    assert "s3cr3t-value" not in everything
    assert "SANDGATE_TEST_SECRET" not in everything


def test_host_secrets_home_and_project_are_not_visible():
    project = Path(django_settings.BASE_DIR)
    hidden = ["/etc/shadow", "/etc/passwd", "/root", "/home", "/run", "/var"]
    hidden += [str(project), str(project / "config"), str(django_settings.SANDBOX_RUNTIME_DIR)]
    result = run(f"""
        import os
        for path in {hidden!r}:
            print(path, os.path.exists(path))
        print(sorted(os.listdir("/")))
    """)

    *checks, root_listing = result.stdout.splitlines()
    assert checks and all(line.endswith(" False") for line in checks), checks
    assert root_listing == str(
        ["bin", "dev", "etc", "lib", "lib64", "opt", "output", "proc", "sbin", "tmp", "usr"]
    )


def test_sandbox_cannot_create_user_namespaces_or_touch_host_device_nodes():
    result = run("""
        import os, subprocess
        print(subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode)
        try:
            os.chmod("/dev/null", 0o666)  # would change the host's /dev/null if the sandbox owned it
            print("chmod allowed")
        except PermissionError:
            print("chmod denied")
    """)

    exit_status, chmod = result.stdout.splitlines()
    assert exit_status != "0"
    assert chmod == "chmod denied"
    assert result.limits["user_namespaces_disabled"] is True


def test_dev_holds_only_the_data_devices_and_they_work():
    result = run("""
        import os
        print(sorted(os.listdir("/dev")))
        with open("/dev/null", "w") as null:
            print("null", null.write("dropped"))
        print("urandom", len(open("/dev/urandom", "rb").read(8)), "zero", open("/dev/zero", "rb").read(2))
        print("stdout link", os.readlink("/dev/stdout"))
    """)

    assert result.succeeded, result.error
    assert result.stdout.splitlines() == [
        str(["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "urandom", "zero"]),
        "null 7",
        "urandom 8 zero b'\\x00\\x00'",
        "stdout link /proc/self/fd/1",
    ]  # no pts, ptmx or tty: nothing in here needs a terminal


def test_only_tmp_output_and_dev_shm_are_writable():
    read_only = ["/", "/etc", "/opt/sandgate", "/usr", "/dev", "/proc"]
    result = run(f"""
        for directory in {["/tmp", "/output", "/dev/shm", *read_only]!r}:
            try:
                open(directory + "/probe", "w").close()
                print(directory, "writable")
            except OSError:
                print(directory, "read-only")
    """)

    assert result.stdout.splitlines() == [
        "/tmp writable",
        "/output writable",
        "/dev/shm writable",
        *(f"{path} read-only" for path in read_only),
    ]


def test_scratch_is_writable_and_fresh_for_every_run():
    first = run("open('/tmp/left-behind', 'w').write('x'); open('/output/r.txt', 'w').write('y')")
    second = run("import os; print(os.path.exists('/tmp/left-behind'), os.listdir('/output'))")

    assert first.succeeded, first.error
    assert second.stdout == "False []\n"


# --- Limits ---------------------------------------------------------------------------------------


def test_cpu_loop_is_stopped_by_the_cpu_limit_or_the_wall_timeout():
    result = run("while True:\n    pass\n", cpu_seconds=2, wall_seconds=3)

    assert not result.succeeded
    assert result.timed_out or "CPU limit" in result.error["value"], result.error
    assert result.duration_ms < 3000 + 2500


def test_sleep_past_the_wall_timeout_is_killed_with_its_whole_process_tree():
    marker = f"sandgate-marker-{uuid.uuid4().hex}"
    result = run(
        f"""
        import subprocess, sys, time
        # A double-forked, setsid()-ed grandchild: escapes the session, not the pid namespace.
        daemon = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(300)\\n"
        daemon += "time.sleep(300)"
        subprocess.Popen([sys.executable, "-c", daemon, {marker!r}], start_new_session=True)
        print("spawned", flush=True)
        time.sleep(300)
        """,
        wall_seconds=2,
    )

    assert result.timed_out
    assert result.error["name"] == "SandboxTimeout"
    assert result.stdout == "spawned\n"  # output before the kill is kept
    assert result.duration_ms < 2000 + 2500
    assert processes_mentioning(marker) == []


def test_memory_bomb_fails_cleanly_at_the_memory_limit():
    result = run(
        """
        blocks = []
        while True:
            blocks.append(bytearray(32 * 1024 * 1024))
        """,
        memory_mb=256,
    )

    assert result.error["name"] == "MemoryError", result.error
    assert not result.timed_out


def test_a_1gb_file_write_fails_on_the_file_size_limit():
    result = run(
        """
        chunk = b"\\0" * (1024 * 1024)
        with open("/tmp/big.bin", "wb") as handle:
            for _ in range(1024):
                handle.write(chunk)
        """,
        file_size_mb=8,
    )

    assert result.error["name"] == "OSError", result.error
    assert "File too large" in result.error["value"]


def test_output_over_the_limit_is_truncated_with_a_marker():
    result = run("import sys\nprint('x' * 5000)\nprint('e' * 5000, file=sys.stderr)", output_bytes=1000)

    assert result.succeeded, result.error
    assert result.stdout == "x" * 1000 + TRUNCATION_MARKER
    assert result.stderr == "e" * 1000 + TRUNCATION_MARKER


def test_fork_bomb_stops_at_the_process_limit():
    result = run(
        """
        import os, time
        children = 0
        try:
            for _ in range(100):
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                children += 1
        except BlockingIOError:
            print("refused after", children)
        """,
        max_processes=10,
    )

    assert result.stdout.startswith("refused after"), result
    assert int(result.stdout.split()[-1]) < 10
    assert result.limits["max_processes"] == 10


# --- Starting it: the launcher and the runner -------------------------------------------------------


def test_a_launcher_step_that_fails_is_raised_naming_the_step():
    result_read, result_write = os.pipe()
    command = [str(django_settings.SANDBOX_LAUNCHER), "--cgroup", "/nonexistent/tasks", "--", "/usr/bin/true"]

    with pytest.raises(OSError, match="sandgate-launch: open /nonexistent/tasks"):
        local._start(command, result_read, (result_write,))


def test_a_missing_launcher_is_a_configuration_error(tmp_path: Path):
    sandbox = LocalSandbox(launcher=tmp_path / "sandgate-launch")

    with pytest.raises(ImproperlyConfigured, match="make install"):
        sandbox.run(
            code="pass", code_sha256=hashlib.sha256(b"pass").hexdigest(), datasets=[], limits=TEST_LIMITS
        )


def test_the_runner_is_bytecode_of_the_current_source_naming_only_its_sandbox_path():
    compiled = local.compiled_runner(local.inspect_runtime(Path(django_settings.SANDBOX_RUNTIME_DIR)))

    assert hashlib.sha256(local.RUNNER.read_bytes()).hexdigest()[:16] in compiled.name
    code = marshal.loads(compiled.read_bytes()[16:])  # after the .pyc header
    assert code.co_filename == "/opt/sandgate/runner.py"
    assert run("import sys; print(sys.argv[0])").stdout == "/opt/sandgate/runner.pyc\n"


# --- Choosing a backend ---------------------------------------------------------------------------


def test_get_sandbox_returns_the_local_backend_when_configured(settings):
    settings.SANDBOX_BACKEND = "local"

    assert isinstance(get_sandbox(), LocalSandbox)


def test_get_sandbox_refuses_an_unknown_backend(settings):
    settings.SANDBOX_BACKEND = "docker"

    with pytest.raises(ImproperlyConfigured, match="Unknown SANDBOX_BACKEND 'docker'"):
        get_sandbox()


def processes_of_uid(uid: int) -> list[int]:
    return processes_where(lambda pid: os.stat(f"/proc/{pid}").st_uid == uid)


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the dedicated run uid exists only for a root worker (CI runs as root)"
)
def test_a_run_leaves_no_process_not_even_a_zombie_so_a_thread_never_runs_out_of_processes():
    # bwrap's pid 1 outlives bwrap by a moment; orphaned to a slow host init, each such zombie counted
    # against the run uid's RLIMIT_NPROC, and after ~max_processes runs every run failed to fork.
    uid = local._dedicated_uid()
    before = set(processes_of_uid(uid))  # another test's sandbox, still open, may run as this uid
    results = []
    for _ in range(12):
        results.append(run("print('ok')", max_processes=8))
        assert set(processes_of_uid(uid)) <= before

    assert [r.stdout for r in results] == ["ok\n"] * 12, [r.error for r in results if not r.succeeded]


def left_in_the_temp_dir(before: set[Path]) -> set[Path]:
    """New `sandgate-*` entries, except another process's (their names carry the creating pid): other
    workers on the same host make and remove their own meanwhile."""
    pid_in_name = re.compile(r"^sandgate-(?:[a-z]+-)?(\d+)-")
    new = set(Path(tempfile.gettempdir()).glob("sandgate-*")) - before
    return {p for p in new if (m := pid_in_name.match(p.name)) is None or int(m[1]) == os.getpid()}


def test_runs_leave_nothing_behind_in_the_temp_dir():
    run("print('first')")  # a root worker's first run may make its stage directory, once
    before = set(Path(tempfile.gettempdir()).glob("sandgate-*"))

    results = [run("open('/tmp/scratch', 'w').write('x')") for _ in range(3)]

    assert all(r.succeeded for r in results), [r.error for r in results]
    assert left_in_the_temp_dir(before) == set()


def test_a_starting_worker_sweeps_what_dead_workers_left_and_keeps_what_live_ones_use():
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead, alive = finished.pid, os.getpid()
    stale = [Path(tempfile.mkdtemp(prefix=f"sandgate-{kind}-{dead}-")) for kind in ("stage", "warm")]
    (stale[1] / "sales.csv").write_text("a dataset a killed worker had linked in\n")
    live = [Path(tempfile.mkdtemp(prefix=f"sandgate-{kind}-{alive}-")) for kind in ("stage", "warm")]
    parents = cgroups._parents()  # empty where the host delegates no cgroup: then the directories only
    stale_groups = [parent / f"sandgate-{dead}-0123456789abcdef" for parent in parents]
    live_groups = [parent / f"sandgate-{alive}-0123456789abcdef" for parent in parents]
    for directory in stale_groups + live_groups:
        directory.mkdir()
    try:
        removed = local.sweep_stale()

        assert not any(path.exists() for path in stale + stale_groups)
        assert all(path.exists() for path in live + live_groups)
        assert removed >= len(stale) + len(stale_groups)
    finally:
        for path in live:
            shutil.rmtree(path, ignore_errors=True)
        for directory in live_groups:
            directory.rmdir()
