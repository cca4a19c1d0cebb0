"""Every benchmark of the project in one run, printed as ONE markdown table of ratios against baselines.

    .venv/bin/python -m bench      (or `make bench`; PostgreSQL and Redis must be running)

* API throughput under gunicorn (2 sync workers, the bench database, Redis broker and cache; the web tier
  alone, see api_rows) against the minimal DRF endpoint `/bench/ping` (bench/urls.py: same
  authentication, renderer and database) measured in the same run: `POST /api/analyze`,
  `GET /api/requests/{id}`, and the same with a current `If-None-Match` (304);
* approve-to-result latency; approve-to-first-line on a stack that executes on approval: the reviewer
  approves and the user's first line prints the wall clock, with the worker's warm pool;
* the fair share (bench/fairness.py): one team's next run during another team's burst of 60 runs;
* the load run (bench/load.py): analyze → approve → execute → poll;
* live output, a killed worker and the embedded default (bench/live.py), last: it starts from a new
  bench database;
* the sandbox table (bench/sandbox.py), audit appends (bench/audit.py), budget reservations
  (bench/budget.py): each runs in its own process, because each configures Django at import, and its
  rows are read from its output.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from decimal import Decimal

import requests

from bench import fairness, load

SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
CLIENTS = 4
# The API rows alternate the endpoints for this many rounds and report medians: the VM's speed drifts within
# a minute, and a round measures the three endpoints within seconds of each other.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def throughput(
    url: str,
    token: str,
    *,
    method: str = "GET",
    body: dict | None = None,
    seconds: float | None = None,
    conditional: bool = False,
) -> float:
    """Requests per second from CLIENTS threads for `seconds` (default SECONDS), each with its own session.

    `conditional`: each request sends the ETag the URL answered with just before, and must get 304.
    """
    seconds = seconds or SECONDS
    headers = {"If-None-Match": load._session(token).get(url).headers["ETag"]} if conditional else {}
    stop = time.monotonic() + seconds
    counts = [0] * CLIENTS

    def client(n: int) -> None:
        session = load._session(token)
        while time.monotonic() < stop:
            answer = session.request(method, url, json=body, headers=headers, timeout=30)
            ok = answer.status_code == 304 if conditional else answer.status_code < 300
            assert ok, f"{url}: {answer.status_code} {answer.text[:200]}"
            counts[n] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def api_rows(base: str, tokens: dict) -> list[tuple]:
    """The web tier's throughput: gunicorn, PostgreSQL and Redis, on a stack started without a worker.

    No worker shares the two cores while the endpoints are measured (in production workers have their
    own machines; here one would also be booting during the baseline), so the generations that the
    analyze run queues wait in Redis until the next stack's worker drains them; main() checks that.
    """
    from analysis.services.generation import request_generate_code

    analyst = tokens["analysts"][0]
    first = requests.post(
        f"{base}/api/analyze", json={"query": load.QUESTION}, headers={"Authorization": f"Token {analyst}"}
    ).json()
    # The detail measured is a generated one (code, findings, card), as reviewers and pollers read it:
    # generated here, in this process (the queued task finds it claimed and does nothing).
    assert request_generate_code(request_id=first["requestId"]).status == "pending_review"
    detail = f"{base}/api/requests/{first['requestId']}"
    endpoints = [
        {"url": f"{base}/bench/ping"},
        # The poller's usual answer: nothing changed. Its ETag is read at the start of each turn (an analyze
        # turn's holds move the team's budget, which the detail's cost card shows).
        {"url": detail, "conditional": True},
        {"url": detail},
        {"url": f"{base}/api/analyze", "method": "POST", "body": {"query": load.QUESTION}},
    ]
    for endpoint in endpoints:  # every worker process past its first requests (imports, connections)
        throughput(token=analyst, **endpoint, seconds=1)
    rounds = [[throughput(token=analyst, **endpoint) for endpoint in endpoints] for _ in range(ROUNDS)]
    rates = [statistics.median(rates) for rates in zip(*rounds, strict=True)]
    ratios = [[r[n] / r[0] for r in rounds] for n in range(len(endpoints))]
    return [
        ("`GET /bench/ping` (minimal DRF endpoint, baseline)", f"{rates[0]:,.0f} req/s", "1.00×", "", ""),
        ("`GET /api/requests/{id}` with a current `If-None-Match` (304)", f"{rates[1]:,.0f} req/s",
         *_ratio_cells(ratios[1], 0.8)),
        ("`GET /api/requests/{id}` (200, the full detail)", f"{rates[2]:,.0f} req/s",
         *_ratio_cells(ratios[2], 0.35)),
        ("`POST /api/analyze`", f"{rates[3]:,.0f} req/s", *_ratio_cells(ratios[3], 0.2)),
    ]  # fmt: skip


def _ratio_cells(ratios: list[float], target: float) -> tuple[str, str, str]:
    """The median of the rounds' ratios with their range, the target, and whether the median meets it."""
    median = statistics.median(ratios)
    return f"{median:.2f}× ({min(ratios):.2f}–{max(ratios):.2f})", f"≥ {target}×", _met(median >= target)


def approve_to_result(base: str, tokens: dict, runs: int = 5) -> list[float]:
    """Milliseconds from the reviewer's approval (then execute at once) to the finished execution."""
    flow = load.Flow(base, tokens["analysts"][0], tokens["reviewer"], time.monotonic() + 120)
    times = []
    for _ in range(runs):
        request = flow.ask(interval=0.01)
        began = time.monotonic()
        body = {"requestId": request["requestId"], "approved": True, "codeSha256": request["codeSha256"]}
        flow.reviewer.post(f"{base}/api/approve", json=body).raise_for_status()
        execution = flow.analyst.post(f"{base}/api/execute", json={"requestId": request["requestId"]}).json()
        flow.finished(execution["executionId"], interval=0.005)
        times.append((time.monotonic() - began) * 1000)
    return times


# The reviewer's edit puts this first: it prints the wall clock (CLOCK_REALTIME; the sandbox has no time
# namespace, so the bench and the sandbox read the same clock).
FIRST_LINE = "from datetime import datetime\nprint('first line at', datetime.now().timestamp())\n"
REFILL_PAUSE = 2.0  # seconds between approvals, as reviewers' are: a warm sandbox imports in ~1 s here


def approve_to_first_line(base: str, tokens: dict, runs: int = 9, warmups: int = 4) -> tuple[list, list, int]:
    """Milliseconds from sending the reviewer's POST /api/approve to the user's first line running.

    The stack runs with SANDGATE_EXECUTE_ON_APPROVAL: the approval queues the execution when it commits.
    Each request is generated, then edited by a second reviewer (the admin console's edit, through its
    service) to start with FIRST_LINE, then approved through the API. The warm-up runs give both worker
    processes their warm pool (it starts at a process's first execution). Returns the times, the approve
    call's own response times (it then serializes the request with its card; the run goes on meanwhile),
    and how many measured runs were warm.
    """
    from approvals.models import ApprovalRequest
    from approvals.services import approval_request_edit
    from billing.models import Membership
    from tests.factories import UserFactory

    # Another reviewer edits: whoever edited a version may not approve it.
    editor = UserFactory(username=f"editor-{tokens['team'].slug}")
    Membership.objects.create(team=tokens["team"], user=editor, role=Membership.Role.REVIEWER)
    flow = load.Flow(base, tokens["analysts"][0], tokens["reviewer"], time.monotonic() + 300)
    times, responses, warm = [], [], 0
    for run in range(warmups + runs):
        generated = ApprovalRequest.objects.get(pk=flow.ask(interval=0.01)["requestId"])
        edited = approval_request_edit(request=generated, reviewer=editor, code=FIRST_LINE + generated.code)
        time.sleep(REFILL_PAUSE)
        began = time.time()
        body = {"requestId": str(edited.pk), "approved": True, "codeSha256": edited.code_sha256}
        approved = flow.reviewer.post(f"{base}/api/approve", json=body)
        answered = time.time()
        approved.raise_for_status()
        execution = flow.finished(approved.json()["execution"]["executionId"], interval=0.01)
        first_line = re.search(r"first line at ([\d.]+)", execution["stdout"])
        assert first_line, f"no first line: {execution['status']} {execution['error']}"
        if run >= warmups:
            times.append((float(first_line.group(1)) - began) * 1000)
            responses.append((answered - began) * 1000)
            warm += bool(execution["limits"].get("warm"))
    return times, responses, warm


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _run(module: str, *args: str, env: dict | None = None) -> str:
    command = [sys.executable, "-m", module, *args]
    done = subprocess.run(command, cwd=load.ROOT, env=env or load.bench_env(), capture_output=True, text=True)
    if done.returncode != 0:
        return f"FAILED: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return done.stdout


def sandbox_rows() -> list[tuple]:
    out = _run("bench.sandbox", "--repeat", "7")
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[1].endswith("ms"):
            rows.append((f"sandbox: {cells[0]}", *cells[1:]))
    return rows or [("sandbox (bench.sandbox)", out.strip()[:200], "", "", "")]


def audit_rows() -> list[tuple]:
    out = _run("bench.audit", "--seconds", "2")
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            rows.append((f"audit appends, {cells[0]} client(s): chained vs plain inserts",
                         f"{cells[2]}/s vs {cells[1]}/s", cells[3], "", ""))  # fmt: skip
    return rows or [("audit appends (bench.audit)", out.strip()[:200], "", "", "")]


def budget_rows() -> list[tuple]:
    out = _run("bench.budget", env={**load.bench_env(), "BENCH_SECONDS": "2"})
    rates = dict(re.findall(r"^(plain conditional UPDATE|budget_reserve)[^:]*:\s+(\d+) /s", out, re.M))
    ratio = re.search(r"^ratio: ([\d.]+)x", out, re.M)
    if not ratio:
        return [("budget reservations (bench.budget)", out.strip()[:200], "", "", "")]
    overshoot = re.search(r"^overshoot: (.*)$", out, re.M)
    amounts = re.findall(r"\$([\d.]+)", overshoot[1]) if overshoot else []
    overshoot_nothing = bool(amounts) and all(Decimal(amount) == 0 for amount in amounts)
    return [(
        "budget reservations, 8 clients: `budget_reserve` vs plain conditional UPDATE; the final burst's "
        f"overshoot: {overshoot[1] if overshoot else 'not reported'}",
        f"{rates.get('budget_reserve')}/s vs {rates.get('plain conditional UPDATE')}/s",
        f"{float(ratio.group(1)):.2f}×", "≥ 0.5×, overshoot 0",
        _met(float(ratio.group(1)) >= 0.5 and overshoot_nothing),
    )]  # fmt: skip


def _figures(out: str) -> dict[str, float]:
    return {key: float(value) for key, value in re.findall(r"^(\w+) ([\d.]+)$", out, re.M)}


def live_rows() -> list[tuple]:
    """bench/live.py on PostgreSQL + Redis, then on the embedded default (SQLite, the filesystem broker).
    Last: it starts from a new bench database."""
    redis, embedded = _figures(_run("bench.live")), _figures(_run("bench.live", "--embedded"))
    if "sigkill_to_final_s" not in redis or "execute_to_result_p50_ms" not in embedded:
        return [("live output and dead workers (bench.live)", "FAILED", "", "", "")]
    rows = []
    for key, what in (("ask_to_code_ready_p50_ms", "ask → code ready for review"),
                      ("execute_to_result_p50_ms", "execute → result")):  # fmt: skip
        ratio = embedded[key] / redis[key]
        rows.append((f"embedded default (SQLite, filesystem broker polled every 50 ms): {what}, p50 "
                     f"(Redis: {redis[key]:.0f} ms)", f"{embedded[key]:.0f} ms", f"{ratio:.2f}×",
                     "≤ 1.5×", _met(ratio <= 1.5)))  # fmt: skip
    for figures, transport in ((redis, "Redis stream"), (embedded, "database chunks, embedded")):
        p50, p95 = figures["printed_to_visible_p50_ms"], figures["printed_to_visible_p95_ms"]
        lines = f"{figures['printed_to_visible_lines']:.0f} lines"
        rows.append((f"a line printed in the sandbox → visible through the API ({transport}, 20 ms polling), "
                     f"p50 / p95 of {lines}", f"{p50:.0f} / {p95:.0f} ms", "", "p50 ≤ 250 ms",
                     _met(p50 <= 250)))  # fmt: skip
    rows.append(("worker SIGKILLed mid-run → execution final (interrupted; heartbeat 10 s, stale 40 s, "
                 "reaper every 15 s)", f"{redis['sigkill_to_final_s']:.1f} s", "", "≤ 60 s",
                 _met(redis["sigkill_to_final_s"] <= 60)))  # fmt: skip
    idle, idle_redis = embedded["worker_idle_cpu_percent"], redis["worker_idle_cpu_percent"]
    rows.append((f"idle worker CPU, filesystem broker polled every 50 ms (Redis: {idle_redis:.1f} %)",
                 f"{idle:.1f} % of a core", "", "", ""))  # fmt: skip
    return rows


def main() -> None:
    load.database_create()
    load.django_setup()
    tokens = load.seed(analysts=4)
    rows: list[tuple] = []
    with load.stack(worker=False) as base:
        rows += api_rows(base, tokens)
    with load.stack() as base:
        load.wait_until_generated(team=tokens["team"])  # the analyze run's backlog: none is lost
        latencies = approve_to_result(base, tokens)
        rows.append(("approve → execute → result through the API (polled), p50 of 5",
                     f"{statistics.median(latencies):.0f} ms", "", "", ""))  # fmt: skip
        rows += fairness.rows()
    with load.stack(execute_on_approval=True) as base:
        first_lines, responses, warm = approve_to_first_line(base, tokens)
        p50 = statistics.median(first_lines)
        rows.append((f"approve → the user's first line (execute on approval, warm pool), p50 of "
                     f"{len(first_lines)} ({warm} warm)", f"{p50:.0f} ms", "", "≤ 60 ms",
                     _met(p50 <= 60 and warm == len(first_lines))))  # fmt: skip
        rows.append(("the approve call's own response, p50 (the run does not wait for it)",
                     f"{statistics.median(responses):.0f} ms", "", "", ""))  # fmt: skip
    result = load.run(analysts=4, requests_each=3, timeout=240)
    rate = f"{result['requests'] / result['seconds']:.2f} flows/s"
    rows.append(("load: 4 analysts × 3 requests, none lost, budgets exact, audit chain verified", rate, "",
                 "all final", "yes"))  # fmt: skip
    rows += sandbox_rows() + audit_rows() + budget_rows()
    rows += live_rows()
    print(f"\nSandgate benchmarks, {date.today().isoformat()}, {os.cpu_count()} CPUs\n")
    print("| measurement | value | ratio to its baseline | target | met |")
    print("|---|---:|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


if __name__ == "__main__":
    main()
