"""Live output, dead workers and the embedded default, measured through the API on gunicorn, a Celery
worker and Celery beat (the offline generator, the local sandbox, 20 ms polling).

    .venv/bin/python -m bench.live              # PostgreSQL and Redis (bench.load's databases)
    .venv/bin/python -m bench.live --embedded   # the README's first command: SQLite, the filesystem broker

Prints one `key value` line per figure (bench/__main__.py turns them into rows):
  * ask → code ready for review, p50; approve, execute → result, p50;
  * a line printed in the sandbox → visible through GET /api/executions/{id}?after=…, p50 and p95;
  * the worker's idle CPU (its processes' CPU time over 10 s of an empty queue, in % of one core);
  * with Redis only: the worker SIGKILLed mid-run → the execution final (interrupted), with the default
    heartbeat and reaper settings.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from bench import load

ROOT = load.ROOT
EMBEDDED_DATABASE = ROOT / "var" / "bench-embedded.sqlite3"
EMBEDDED_BROKER = ROOT / "var" / "bench-broker"
POLL = 0.02
RUNS = 7
# Prints a line with the wall clock (the sandbox reads the same clock as the bench), five times.
PRINTING = (
    "import time\n"
    "for n in range(5):\n"
    "    print('line', n, 'at', time.time(), flush=True)\n"
    "    time.sleep(0.4)\n"
)
BLOCKING = "import time\nprint('started', flush=True)\ntime.sleep(110)\n"
FINAL = load.FINAL_EXECUTION


def configure(*, embedded: bool) -> None:
    """The environment of this process and every process of the stack, from an empty database."""
    if embedded:
        EMBEDDED_DATABASE.unlink(missing_ok=True)
        for folder in EMBEDDED_BROKER.glob("*/*"):
            folder.unlink()
        load.DATABASE_URL = f"sqlite:///{EMBEDDED_DATABASE}"
        os.environ["BENCH_BROKER_DIR"] = str(EMBEDDED_BROKER)
        base_env = load.bench_env

        def embedded_env() -> dict[str, str]:
            env = base_env()
            env["CELERY_BROKER_URL"] = "filesystem://"
            env.pop("CACHE_URL")  # the default: in memory
            return env

        load.bench_env = embedded_env
        subprocess.run(
            [str(load.VENV_BIN / "python"), "manage.py", "migrate", "-v0"],
            cwd=ROOT, env=load.bench_env(), check=True,
        )  # fmt: skip
    else:
        load.database_create()
    load.django_setup()


@contextmanager
def stack():
    """gunicorn, a worker (its own process group, to be killed as a lost machine is) and beat."""
    env = load.bench_env()
    port = load.free_port()
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    web = subprocess.Popen(
        [str(load.VENV_BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
        cwd=ROOT, env=env, stdout=open(logs / "live-gunicorn.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    beat = subprocess.Popen(
        [str(load.VENV_BIN / "celery"), "-A", "config", "beat", "-s", str(logs / "live-beat-schedule")],
        cwd=ROOT, env=env, stdout=open(logs / "live-beat.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    processes = {"web": web, "beat": beat, "worker": start_worker(env, port)}
    base = f"http://127.0.0.1:{port}"
    try:
        load._wait_until_up(base)
        yield base, processes
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def start_worker(env: dict, port: int) -> subprocess.Popen:
    # No -Q: the worker serves every declared queue.
    return subprocess.Popen(
        [str(load.VENV_BIN / "celery"), "-A", "config", "worker", "--concurrency", "2",
         "--loglevel", "WARNING", "-n", f"live-{port}-{time.monotonic_ns()}@%h"],
        cwd=ROOT, env=env, stdout=open(ROOT / "var" / "bench" / "live-worker.log", "a"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def approved_request(tokens: dict, code: str):
    """A request of the bench's analyst with `code`, approved by its reviewer (through the services)."""
    from approvals.models import ApprovalRequest
    from approvals.services import approval_request_approve
    from billing.models import Membership
    from tests.factories import ApprovalRequestFactory

    members = Membership.objects.filter(team=tokens["team"]).select_related("user").order_by("pk")
    analyst = next(m.user for m in members if m.role == Membership.Role.ANALYST)
    reviewer = next(m.user for m in members if m.role == Membership.Role.REVIEWER)
    request = ApprovalRequestFactory(user=analyst, team=tokens["team"], code=code)
    approval_request_approve(request=request, reviewer=reviewer)
    return ApprovalRequest.objects.get(pk=request.pk)


def ask_to_code_ready(flow) -> list[float]:
    times = []
    for _ in range(RUNS):
        began = time.monotonic()
        flow.ask(interval=POLL)
        times.append((time.monotonic() - began) * 1000)
    return times


def execute_to_result(flow, base: str) -> list[float]:
    times = []
    for _ in range(RUNS):
        request = flow.ask(interval=POLL)
        body = {"requestId": request["requestId"], "approved": True, "codeSha256": request["codeSha256"]}
        flow.reviewer.post(f"{base}/api/approve", json=body).raise_for_status()
        began = time.monotonic()
        execution = flow.analyst.post(f"{base}/api/execute", json={"requestId": request["requestId"]}).json()
        flow.finished(execution["executionId"], interval=POLL)
        times.append((time.monotonic() - began) * 1000)
    return times


def printed_to_visible(flow, base: str, tokens: dict, runs: int = 4) -> list[float]:
    """Per printed line: the wall clock when the API first showed it, minus the one it printed."""
    latencies = []
    for _ in range(runs):
        request = approved_request(tokens, PRINTING)
        answer = flow.analyst.post(f"{base}/api/execute", json={"requestId": str(request.pk)}).json()
        url, after, seen = f"{base}/api/executions/{answer['executionId']}", 0, ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = flow.analyst.get(url, params={"after": after}).json()
            now = time.time()
            if body["status"] in FINAL:
                break
            seen += body["stdout"]
            after = body["outputSeq"]
            *complete, seen = seen.split("\n")
            latencies += [(now - float(line.rsplit(" ", 1)[1])) * 1000 for line in complete]
            time.sleep(POLL)
    return latencies


def idle_cpu_percent(worker: subprocess.Popen, seconds: float = 10.0) -> float:
    """The worker's processes' CPU time over `seconds` of an empty queue, in % of one core."""
    before = process_tree_cpu(worker.pid)
    time.sleep(seconds)
    return (process_tree_cpu(worker.pid) - before) / seconds * 100


def process_tree_cpu(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for member in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            own, rest = stat.read_text().split(" ", 1)
        except OSError:
            continue
        children.setdefault(int(rest.rsplit(")", 1)[1].split()[1]), []).append(int(own))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_to_final(flow, base: str, tokens: dict, processes: dict) -> float:
    """Seconds from SIGKILL of the worker (and every process below it) mid-run to the execution final."""
    request = approved_request(tokens, BLOCKING)
    answer = flow.analyst.post(f"{base}/api/execute", json={"requestId": str(request.pk)}).json()
    url = f"/api/executions/{answer['executionId']}"
    flow.poll(url, lambda e: e["stdout"].startswith("started") and e["status"] == "running", POLL)
    worker = processes["worker"]
    for victim in [worker.pid, *descendants(worker.pid)]:
        for kill in (os.killpg, os.kill):
            try:
                kill(victim, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    killed = time.monotonic()
    worker.wait()
    processes["worker"] = start_worker(load.bench_env(), 0)  # a new worker; the run must not run again
    flow.deadline = time.monotonic() + 120
    final = flow.poll(url, lambda e: e["status"] in FINAL, 0.1)
    assert final["status"] == "interrupted", final
    return time.monotonic() - killed


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedded", action="store_true")
    args = parser.parse_args()
    configure(embedded=args.embedded)
    tokens = load.seed(analysts=1)
    with stack() as (base, processes):
        flow = load.Flow(base, tokens["analysts"][0], tokens["reviewer"], time.monotonic() + 600)
        flow.ask(interval=POLL)  # warm-up: the worker's first task (imports, connections)
        # Before any run: afterwards the worker's warm sandboxes start (importing pandas is not idling).
        print("worker_idle_cpu_percent", f"{idle_cpu_percent(processes['worker']):.1f}")
        print("ask_to_code_ready_p50_ms", f"{statistics.median(ask_to_code_ready(flow)):.0f}")
        print("execute_to_result_p50_ms", f"{statistics.median(execute_to_result(flow, base)):.0f}")
        latencies = printed_to_visible(flow, base, tokens)
        print("printed_to_visible_p50_ms", f"{p(latencies, 50):.0f}")
        print("printed_to_visible_p95_ms", f"{p(latencies, 95):.0f}")
        print("printed_to_visible_lines", len(latencies))
        if not args.embedded:
            print("sigkill_to_final_s", f"{kill_to_final(flow, base, tokens, processes):.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
