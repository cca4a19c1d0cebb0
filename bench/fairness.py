"""One team's burst against another team's next run (the fair share of the execute workers).

Run by `python -m bench` inside a stack (gunicorn and a worker with 2 processes, Redis broker), from its
own process through the services: the first team runs a trivial script alone (p50 of RUNS: how long it
waits for a worker, queued → claimed, and execute → result); then the second team starts BURST trivial runs
at once and the first team runs again while the burst is being worked through. The second team's runs
beyond its slots (SANDGATE_RUNS_PER_TEAM, 4) wait in the database, so the first team's run is behind at
most those 4 in the execute queue: with 2 worker processes and runs of ~0.3–0.6 s, about a second more.
Before the fair share (one FIFO queue) the issue measured 23.8 s instead of 0.6 s.
"""

from __future__ import annotations

import statistics
import time

BURST = 60
RUNS = 3
TRIVIAL = "print(1)\n"
ADDED_TARGET_MS = 2000


def _approved(team, analyst, reviewer):
    from approvals.services import approval_request_approve
    from tests.factories import ApprovalRequestFactory

    request = ApprovalRequestFactory(user=analyst, team=team, code=TRIVIAL, risk_level="low")
    return approval_request_approve(request=request, reviewer=reviewer)


def _team(name: str):
    from billing.models import Membership, Team
    from tests.factories import UserFactory

    stamp = f"{name}-{time.time_ns()}"
    team = Team.objects.create(slug=stamp, name=name)
    analyst, reviewer = UserFactory(username=f"a-{stamp}"), UserFactory(username=f"r-{stamp}")
    Membership.objects.create(team=team, user=analyst, role=Membership.Role.ANALYST)
    Membership.objects.create(team=team, user=reviewer, role=Membership.Role.REVIEWER)
    return team, analyst, reviewer


def _finished(execution_ids, deadline: float) -> None:
    from analysis.models import Execution

    while time.monotonic() < deadline:
        if (
            not Execution.objects.filter(pk__in=execution_ids)
            .exclude(status__in=Execution.FINAL_STATUSES)
            .exists()
        ):
            return
        time.sleep(0.01)
    raise TimeoutError("runs not finished before the deadline")


def _one_run(team, analyst, reviewer) -> tuple[float, float]:
    """(execute → result, queued → claimed by a worker), in ms, of one trivial run of `team`."""
    from analysis.models import Execution
    from analysis.services.execution import execution_start

    request = _approved(team, analyst, reviewer)
    began = time.monotonic()
    execution, _ = execution_start(request=request, user=analyst)
    _finished([execution.pk], time.monotonic() + 120)
    total = (time.monotonic() - began) * 1000
    execution = Execution.objects.get(pk=execution.pk)
    return total, (execution.started_at - execution.queued_at).total_seconds() * 1000


def measure() -> tuple[list, list, int]:
    """The first team's runs alone and during the second team's burst: (total, wait) pairs in ms."""
    from analysis.services.execution import execution_start

    first, first_analyst, first_reviewer = _team("first")
    second, second_analyst, second_reviewer = _team("second")
    for _ in range(2):  # both worker processes past their first run (warm pools started)
        _one_run(first, first_analyst, first_reviewer)
    alone = [_one_run(first, first_analyst, first_reviewer) for _ in range(RUNS)]
    burst_requests = [_approved(second, second_analyst, second_reviewer) for _ in range(BURST)]
    burst = [execution_start(request=r, user=second_analyst)[0].pk for r in burst_requests]
    during = [_one_run(first, first_analyst, first_reviewer) for _ in range(RUNS)]
    _finished(burst, time.monotonic() + 300)  # drained before the stack stops: nothing left for the next
    return alone, during, len(burst)


def rows() -> list[tuple]:
    alone, during, burst = measure()
    total_alone, wait_alone = (statistics.median(values) for values in zip(*alone, strict=True))
    total_during, wait_during = (statistics.median(values) for values in zip(*during, strict=True))
    added = wait_during - wait_alone
    return [
        (
            f"fair share: one team's next run waits for a worker (queued → claimed, p50 of {RUNS}) during "
            f"another team's burst of {burst} runs vs alone",
            f"{wait_during:.0f} ms vs {wait_alone:.0f} ms",
            f"+{added:.0f} ms",
            f"≤ +{ADDED_TARGET_MS} ms",
            "yes" if added <= ADDED_TARGET_MS else "**no**",
        ),
        (
            "the same run, execute → result (the burst also shares the 2 cores)",
            f"{total_during:.0f} ms vs {total_alone:.0f} ms",
            f"+{total_during - total_alone:.0f} ms",
            "",
            "",
        ),
    ]
