"""Load: N analysts × M requests through analyze → approve → execute → poll, on gunicorn and a Celery worker.

    .venv/bin/python -m bench.load [--analysts 4] [--requests 3] [--timeout 240]

Uses its own PostgreSQL database (`BENCH_DATABASE_URL`, default `sandgate_bench`, dropped, created and
migrated here) and Redis broker/cache (`BENCH_REDIS_URL`, default db 14, emptied), the offline generator and
the local sandbox.
Every loop is bounded in count and time; it stops by itself and asserts afterwards:
  * no request lost: every request ends in a final state (and every execution too);
  * budgets exact: each budget period's spent equals the sum of the team's cost spans, nothing reserved;
  * the audit chain verifies (`manage.py audit_chain`, then `manage.py audit_verify`).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sandgate_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
FINAL_REQUEST = {
    "generation_failed",
    "needs_clarification",
    "policy_blocked",
    "rejected",
    "cancelled",
    "superseded",
    "expired",
}
FINAL_EXECUTION = {"succeeded", "failed", "timed_out", "interrupted"}
QUESTION = "Load sales.csv and print the total revenue by region"


def bench_env() -> dict[str, str]:
    """The environment of every process of the stack (and of this one, for the ORM)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CACHE_URL": REDIS_URL.replace("redis://", "rediscache://"),
        "MISTRAL_API_KEY": "",
        "SANDBOX_BACKEND": "local",
        "SANDGATE_EXECUTE_ON_APPROVAL": "false",
        "SANDGATE_ANALYZE_RATE": "100000/min",  # the bench measures throughput, not the rate limit
        "AUDIT_HEAD_FILE": str(ROOT / "var" / "bench-audit-heads.log"),
    }


def database_create() -> None:
    """Start from an empty, migrated bench database and an empty bench Redis database.

    Every run starts from the same state: a database grown by earlier runs (tens of thousands of requests,
    reservations and audit events) changes plans and timings, and an earlier run's queued tasks would be
    worked off during this one. Only databases named for the bench are dropped.
    """
    import psycopg
    import redis

    url = urlsplit(DATABASE_URL)
    name = url.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(
            f"BENCH_DATABASE_URL names {name!r}: the bench drops its database, so its name must say bench"
        )
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    # The audit chain's heads of the dropped database go with it: `audit_verify` would find them missing.
    Path(bench_env()["AUDIT_HEAD_FILE"]).unlink(missing_ok=True)
    manage = [str(VENV_BIN / "python"), "manage.py", "migrate", "-v0"]
    subprocess.run(manage, cwd=ROOT, env=bench_env(), check=True)


def django_setup() -> None:
    os.environ.update(bench_env())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# As the README's Operations section deploys the web tier: about 2 sync workers per core, so that one
# worker's waits on PostgreSQL and Redis leave its core to another.
WEB_WORKERS = 2 * (os.cpu_count() or 1)


@contextmanager
def stack(
    *,
    web_workers: int = WEB_WORKERS,
    worker_concurrency: int = 2,
    execute_on_approval: bool = False,
    worker: bool = True,
):
    """gunicorn and (unless `worker=False`) a Celery worker on the bench database; yields the base URL."""
    env = {**bench_env(), "SANDGATE_EXECUTE_ON_APPROVAL": str(execute_on_approval).lower()}
    port = free_port()
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    web = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(web_workers)],
        cwd=ROOT, env=env, stdout=open(logs / "gunicorn.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    processes = [web]
    if worker:
        processes.append(subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q", "generate,execute,celery",
             "--concurrency", str(worker_concurrency), "--loglevel", "WARNING", "-n", f"bench-{port}@%h"],
            cwd=ROOT, env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base)
        yield base
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_up(base: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/bench/ping", timeout=10)  # 401 without a token: up
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer on {base} within {seconds:g} s")


def seed(*, analysts: int) -> dict:
    """A team with a dataset, a generous monthly budget, N analysts and a reviewer; their tokens."""

    from analysis.demo import sales_csv
    from analysis.services.datasets import dataset_create
    from billing.models import Budget, Membership, Team
    from config.tokens import token_create
    from tests.factories import UserFactory

    stamp = f"{os.getpid()}-{int(time.time())}"
    team = Team.objects.create(slug=f"bench-{stamp}", name="Bench")
    dataset_create(team=team, name="sales.csv", content=sales_csv(rows=200))
    Budget.objects.create(team=team, scope=Budget.Scope.TEAM, period=Budget.Period.MONTHLY, limit_usd=10_000)

    def token(role: str, name: str) -> str:
        user = UserFactory(username=f"{name}-{stamp}")
        Membership.objects.create(team=team, user=user, role=role)
        return token_create(user=user)[1]

    return {
        "team": team,
        "analysts": [token(Membership.Role.ANALYST, f"analyst{i}") for i in range(analysts)],
        "reviewer": token(Membership.Role.REVIEWER, "reviewer"),
    }


def wait_until_generated(*, team, timeout: float = 300) -> None:
    """Until no request of the team is still waiting for its code (the worker drains a backlog)."""
    from approvals.models import ApprovalRequest

    deadline = time.monotonic() + timeout
    while ApprovalRequest.objects.filter(team=team, status=ApprovalRequest.Status.GENERATING).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"requests still generating after {timeout:g} s")
        time.sleep(0.2)


class Flow:
    """One analyst's M requests, each analyze → approve (the reviewer) → execute → poll, within a deadline."""

    def __init__(self, base: str, analyst: str, reviewer: str, deadline: float):
        self.base, self.deadline = base, deadline
        self.analyst, self.reviewer = _session(analyst), _session(reviewer)
        self.request_ids: list[str] = []
        self.errors: list[str] = []

    def run(self, count: int) -> None:
        for _ in range(count):
            try:
                self.one()
            except Exception as error:  # noqa: BLE001 — counted and reported, the others go on
                self.errors.append(repr(error))

    def one(self) -> None:
        request = self.ask()
        if request["status"] != "pending_review":
            return  # final already (e.g. policy_blocked): nothing to approve
        request_id = request["requestId"]
        body = {"requestId": request_id, "approved": True, "codeSha256": request["codeSha256"]}
        self.reviewer.post(f"{self.base}/api/approve", json=body, timeout=30).raise_for_status()
        answer = self.analyst.post(f"{self.base}/api/execute", json={"requestId": request_id}, timeout=30)
        answer.raise_for_status()
        self.finished(answer.json()["executionId"])

    def ask(self, interval: float = 0.1) -> dict:
        """The analyst asks; returns the request once its code is generated (or generation ended)."""
        answer = self.analyst.post(f"{self.base}/api/analyze", json={"query": QUESTION}, timeout=30)
        answer.raise_for_status()
        request_id = answer.json()["requestId"]
        self.request_ids.append(request_id)
        return self.poll(f"/api/requests/{request_id}", lambda r: r["status"] != "generating", interval)

    def finished(self, execution_id: str, interval: float = 0.1) -> dict:
        """The execution, once it is final."""
        final = lambda e: e["status"] in FINAL_EXECUTION  # noqa: E731
        return self.poll(f"/api/executions/{execution_id}", final, interval)

    def poll(self, path: str, done, interval: float = 0.1) -> dict:
        while time.monotonic() < self.deadline:
            body = self.analyst.get(f"{self.base}{path}", timeout=30).json()
            if done(body):
                return body
            time.sleep(interval)
        raise TimeoutError(f"{path} not done before the deadline")


def _session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session


def drive(base: str, tokens: dict, *, requests_each: int, timeout: float) -> tuple[list, list, float]:
    deadline = time.monotonic() + timeout
    flows = [Flow(base, analyst, tokens["reviewer"], deadline) for analyst in tokens["analysts"]]
    threads = [threading.Thread(target=flow.run, args=(requests_each,)) for flow in flows]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0) + 35)
    elapsed = time.monotonic() - began
    return [i for f in flows for i in f.request_ids], [e for f in flows for e in f.errors], elapsed


def check(*, team, request_ids: list[str]) -> dict:
    """The assertions after the run; returns what the summary prints."""
    from approvals.models import ApprovalRequest
    from billing.models import BudgetPeriod, CostSpan, Reservation
    from billing.selectors import cost_total

    statuses = dict(ApprovalRequest.objects.filter(pk__in=request_ids).values_list("pk", "status"))
    final = {str(pk) for pk, status in statuses.items() if _is_final(pk, status)}
    lost = sorted(set(request_ids) - final)
    assert not lost, f"{len(lost)} requests did not end final: {lost[:5]}"
    spans = cost_total(spans=CostSpan.objects.filter(tenant=team))
    for period in BudgetPeriod.objects.filter(budget__team=team):
        assert period.spent_usd == spans, f"budget spent {period.spent_usd} != cost spans {spans}"
        assert period.reserved_usd == 0, f"still reserved: {period.reserved_usd}"
    active = Reservation.objects.filter(team=team, status=Reservation.Status.ACTIVE).count()
    assert not active, f"{active} reservations still active"
    manage = [str(VENV_BIN / "python"), "manage.py"]
    chain = subprocess.run([*manage, "audit_chain"], cwd=ROOT, env=bench_env(), capture_output=True)
    assert chain.returncode == 0, f"audit_chain failed: {chain.stdout.decode()} {chain.stderr.decode()}"
    verify = subprocess.run([*manage, "audit_verify"], cwd=ROOT, env=bench_env(), capture_output=True)
    assert verify.returncode == 0, f"audit_verify failed: {verify.stdout.decode()} {verify.stderr.decode()}"
    by_status: dict[str, int] = {}
    for pk, status in statuses.items():
        shown = _execution_status(pk) or status
        by_status[shown] = by_status.get(shown, 0) + 1
    return {"spent": spans, "by_status": by_status, "audit": verify.stdout.decode().strip()}


def _is_final(pk, status: str) -> bool:
    if status in FINAL_REQUEST:
        return True
    return _execution_status(pk) in FINAL_EXECUTION


def _execution_status(pk) -> str | None:
    from analysis.models import Execution

    return Execution.objects.filter(request_id=pk).values_list("status", flat=True).first()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysts", type=int, default=4)
    parser.add_argument("--requests", type=int, default=3, help="per analyst")
    parser.add_argument("--timeout", type=float, default=240, help="seconds for the whole run")
    args = parser.parse_args()
    database_create()
    print(run(analysts=args.analysts, requests_each=args.requests, timeout=args.timeout)["summary"])


def run(*, analysts: int, requests_each: int, timeout: float) -> dict:
    """The load run on the bench database as it is (`database_create()` first when run alone)."""
    django_setup()
    tokens = seed(analysts=analysts)
    with stack() as base:
        request_ids, errors, elapsed = drive(base, tokens, requests_each=requests_each, timeout=timeout)
    assert not errors, f"{len(errors)} flows failed: {errors[:3]}"
    result = check(team=tokens["team"], request_ids=request_ids)
    summary = (
        f"Load: {analysts} analysts × {requests_each} requests = {len(request_ids)} requests "
        f"in {elapsed:.1f} s "
        f"({len(request_ids) / elapsed:.2f} end-to-end/s); final states {result['by_status']}; "
        f"none lost; budget spent ${result['spent']} = sum of cost spans, nothing reserved; "
        f"audit_verify: {result['audit']}"
    )
    return {**result, "requests": len(request_ids), "seconds": elapsed, "summary": summary}


if __name__ == "__main__":
    main()
