"""The warm pool, for real: pre-started local sandboxes, each given one execution and then destroyed."""

from __future__ import annotations

import hashlib
import re
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from analysis.models import Execution
from analysis.sandboxes import get_sandbox, warm
from analysis.sandboxes.base import CodeIntegrityError, DatasetMount, Limits, SandboxResult
from analysis.sandboxes.local import LocalSandbox
from analysis.services.execution import execution_start
from approvals.services import approval_request_approve
from tests.analysis.test_sandbox_local import TEST_LIMITS
from tests.factories import ApprovalRequestFactory, demo_dataset


@pytest.fixture
def pool():
    pool = warm.WarmPool(size=1, limits=TEST_LIMITS)
    yield pool
    pool.close()


@pytest.fixture
def dataset(tmp_path) -> DatasetMount:
    path = tmp_path / "sales.csv"
    path.write_text("month,region,revenue\n2024-01,north,10\n2024-01,south,5\n")
    path.chmod(0o644)
    tmp_path.chmod(0o755)
    return DatasetMount(name="sales.csv", host_path=str(path))


def run_in(pool: warm.WarmPool, code: str, datasets=(), limits: Limits = TEST_LIMITS) -> SandboxResult:
    code = textwrap.dedent(code)
    digest = hashlib.sha256(code.encode()).hexdigest()
    return pool.run(code=code, code_sha256=digest, datasets=list(datasets), limits=limits)


def test_a_warm_sandbox_runs_exactly_one_execution_and_is_destroyed(pool):
    sandbox = pool.take(TEST_LIMITS)
    assert sandbox.launched.ready(timeout=30)  # pandas and pyplot were imported before any code came
    result = sandbox.execute(
        b"import sys\nprint('pandas' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n", []
    )
    sandbox.destroy()

    assert result.succeeded, result.error
    assert result.stdout == "True True\n" and result.limits["warm"] is True
    assert sandbox.launched.process.returncode is not None
    assert not sandbox.data_root.exists()
    with pytest.raises(RuntimeError, match="exactly one execution"):
        sandbox.execute(b"print('again')\n", [])


def test_the_pool_is_refilled_with_a_new_sandbox_after_each_run(pool):
    pool.fill()
    first = pool._idle[0].launched.process

    result = run_in(pool, "print('hi')")

    assert result.stdout == "hi\n" and result.limits["warm"] is True
    assert first.returncode is not None  # the one used is gone
    assert len(pool._idle) == 1 and pool._idle[0].launched.process is not first
    assert pool._idle[0].launched.alive()


def test_the_requests_datasets_appear_read_only_at_data_in_a_warm_sandbox(pool, dataset):
    result = run_in(
        pool,
        """
        import os
        import pandas as pd
        print(sorted(os.listdir("/data")))
        print(pd.read_csv("/data/sales.csv").groupby("region")["revenue"].sum().to_dict())
        for path in ["/data/sales.csv", "/data/new.csv"]:
            try:
                open(path, "a").write("x")
                print(path, "written")
            except OSError:
                print(path, "refused")
        """,
        datasets=[dataset],
    )

    assert result.succeeded, result.error
    assert result.stdout.splitlines() == [
        "['sales.csv']",
        "{'north': 10, 'south': 5}",
        "/data/sales.csv refused",
        "/data/new.csv refused",
    ]
    assert Path(dataset.host_path).read_text().endswith("south,5\n")


def test_a_warm_sandbox_is_isolated_like_a_cold_one(pool, monkeypatch):
    monkeypatch.setenv("SANDGATE_ATTACK_SECRET_KEY", "sandgate-attack-secret")
    pool.close()  # the next warm sandbox starts with the secret in the worker's environment
    project = Path(django_settings.BASE_DIR)

    result = run_in(
        pool,
        f"""
        import os, socket
        for host, port in [("127.0.0.1", 5432), ("127.0.0.1", 6379), ("8.8.8.8", 53)]:
            try:
                socket.create_connection((host, port), timeout=2)
                print(host, port, "connected")
            except OSError:
                print(host, port, "blocked")
        for path in ["/proc/1/environ", "/proc/self/environ", {str(project / ".env")!r}]:
            try:
                print(path, open(path, "rb").read())
            except OSError:
                print(path, "denied")
        print("environ", dict(os.environ))
        for path in ["/etc/x", "/usr/x", "/opt/sandgate/x", "/x"]:
            try:
                open(path, "w").write("x")
                print(path, "written")
            except OSError:
                print(path, "refused")
        """,
    )

    assert result.succeeded, result.error
    everything = result.stdout + result.stderr
    assert "connected" not in everything and everything.count(" blocked") == 3
    assert "sandgate-attack-secret" not in everything and "SANDGATE_ATTACK_SECRET_KEY" not in everything
    assert f"{project / '.env'} denied" in everything
    assert "written" not in everything and everything.count(" refused") == 4
    assert result.limits["seccomp"] and result.limits["network"] is False


def test_a_warm_sandbox_gets_the_runs_own_cpu_seconds_after_its_imports():
    limits = replace(TEST_LIMITS, cpu_seconds=1, wall_seconds=10)
    pool = warm.WarmPool(size=1, limits=limits)
    try:
        result = run_in(
            pool,
            """
            import resource
            print(resource.getrlimit(resource.RLIMIT_CPU), flush=True)
            while True:
                pass
            """,
            limits=limits,
        )
    finally:
        pool.close()

    soft, hard = eval(result.stdout.splitlines()[0])  # noqa: S307 - a tuple printed by the test's own code
    assert 1 < soft <= 4 and hard == soft + 1  # the imports' CPU time, then 1 s: not the 10 s of headroom
    assert not result.succeeded and not result.timed_out
    assert "CPU limit" in result.error["value"]


def test_a_warm_sandbox_counts_the_cpu_of_all_its_processes_from_the_hand_over_not_its_imports():
    limits = replace(TEST_LIMITS, cpu_seconds=1, wall_seconds=60)
    pool = warm.WarmPool(size=1, limits=limits)
    try:
        light = run_in(
            pool,
            """
            import os, time
            started = time.process_time()
            while time.process_time() - started < 0.7:
                pass
            print(sum(os.times()[:2]))
            """,
            limits=limits,
        )
        heavy = run_in(
            pool,
            """
            import os
            for _ in range(7):
                if os.fork() == 0:
                    break
            while True:
                pass
            """,
            limits=limits,
        )
    finally:
        pool.close()

    # The runner's own CPU time, imports included, is over 1 s; the run's, from the hand-over, is not.
    assert light.succeeded, light.error
    assert float(light.stdout) > 1 and light.limits["warm"] is True
    assert heavy.error["name"] == "CPULimitExceeded" and "CPU limit of 1 s" in heavy.error["value"]
    used = float(re.search(r"used ([0-9.]+) s", heavy.error["value"]).group(1))
    assert 1 <= used < 2.5 and heavy.limits["warm"] is True


def test_a_request_with_other_limits_runs_cold_and_leaves_the_warm_sandbox_alone(pool):
    pool.fill()
    idle = pool._idle[0]

    result = run_in(pool, "print('cold')", limits=replace(TEST_LIMITS, wall_seconds=7))

    assert result.stdout == "cold\n" and "warm" not in result.limits
    assert pool._idle[0] is idle and idle.launched.alive()


def test_code_that_is_not_the_approved_code_is_refused_before_a_warm_sandbox_is_used(pool):
    pool.fill()
    idle = pool._idle[0]

    with pytest.raises(CodeIntegrityError):
        pool.run(code="print(1)\n", code_sha256="0" * 64, datasets=[], limits=TEST_LIMITS)

    assert pool._idle[0] is idle and idle.launched.alive()


def test_only_worker_processes_get_a_warm_pool(settings, monkeypatch):
    settings.SANDBOX_BACKEND = "local"
    settings.SANDBOX_WARM_POOL_SIZE = 2
    monkeypatch.setattr(warm, "_enabled", False)
    monkeypatch.setattr(warm, "_pool", None)
    assert type(get_sandbox()) is LocalSandbox  # the web process: never sandboxes ahead of time

    warm.enable()
    pool = get_sandbox()

    assert (
        isinstance(pool, warm.WarmPool) and pool.size == 2 and len(pool._idle) == 0
    )  # nothing started until the first run
    assert get_sandbox() is pool  # one per process
    settings.SANDBOX_WARM_POOL_SIZE = 0
    assert type(get_sandbox()) is LocalSandbox


def test_the_celery_worker_runs_executions_in_its_warm_pool(celery_worker_process, analyst, reviewer, team):
    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")
    request.datasets.set([demo_dataset(team, rows=20)])
    request = approval_request_approve(request=request, reviewer=reviewer)

    execution, _ = execution_start(request=request, user=analyst)
    celery_worker_process.wait_for_task("analysis.tasks.run_execution", str(execution.pk))

    execution.refresh_from_db()
    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert execution.limits["warm"] is True
