"""One team cannot starve another: each team has a few run slots (queued or running); its other runs wait in
the database, not in the broker, and take a freed slot oldest first."""

from __future__ import annotations

import pytest

from analysis.models import Execution
from analysis.services.execution import execution_run, execution_start
from analysis.services.reaper import reap_stuck
from approvals.services import approval_request_approve
from billing.models import Membership
from tests.factories import ApprovalRequestFactory, TeamFactory, member
from tests.threads import run_together

Status = Execution.Status
TRIVIAL = "print(1)\n"


def approved(team, *, count: int, code: str = TRIVIAL) -> tuple[list, object]:
    """`count` approved requests of one analyst of `team` (and that analyst)."""
    analyst = member(team, Membership.Role.ANALYST)
    reviewer = member(team, Membership.Role.REVIEWER)
    requests = []
    for _ in range(count):
        request = ApprovalRequestFactory(user=analyst, team=team, code=code, risk_level="low")
        requests.append(approval_request_approve(request=request, reviewer=reviewer))
    return requests, analyst


def start(request, analyst) -> Execution:
    return execution_start(request=request, user=analyst)[0]


def statuses(executions) -> list[str]:
    return [Execution.objects.get(pk=e.pk).status for e in executions]


def test_a_teams_runs_beyond_its_slots_wait_in_the_database_and_go_oldest_first(db, settings):
    settings.SANDGATE_RUNS_PER_TEAM = 1
    team = TeamFactory()
    requests, analyst = approved(team, count=3)
    runs = [start(request, analyst) for request in requests]
    assert [r.status for r in runs] == ["queued", "waiting", "waiting"]  # the answer says which
    assert runs[0].queued_at is not None and runs[1].queued_at is None

    assert execution_run(execution_id=runs[1].pk) is None  # a stray message for a waiting run does nothing
    execution_run(execution_id=runs[0].pk)

    assert statuses(runs) == ["succeeded", "queued", "waiting"]
    execution_run(execution_id=runs[1].pk)
    assert statuses(runs) == ["succeeded", "succeeded", "queued"]


def test_a_teams_own_cap_overrides_the_servers(db, settings):
    settings.SANDGATE_RUNS_PER_TEAM = 1
    roomy = TeamFactory(max_active_runs=3)
    requests, analyst = approved(roomy, count=4)
    assert [start(request, analyst).status for request in requests] == ["queued"] * 3 + ["waiting"]


def test_other_teams_slots_are_their_own(db, settings):
    settings.SANDGATE_RUNS_PER_TEAM = 1
    busy, other = TeamFactory(), TeamFactory()
    busy_requests, busy_analyst = approved(busy, count=3)
    [start(request, busy_analyst) for request in busy_requests]
    (request,), analyst = approved(other, count=1)
    assert start(request, analyst).status == "queued"


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_never_give_away_more_than_the_teams_slots(settings):
    settings.SANDGATE_RUNS_PER_TEAM = 2
    team = TeamFactory()
    requests, analyst = approved(team, count=10)

    results = run_together([lambda r=r: start(r, analyst) for r in requests])

    assert all(isinstance(r, Execution) for r in results), results
    assert sorted(Execution.objects.values_list("status", flat=True)) == ["queued"] * 2 + ["waiting"] * 8


def test_the_reaper_hands_out_slots_freed_without_a_release(db, settings):
    settings.SANDGATE_RUNS_PER_TEAM = 1
    team = TeamFactory()
    requests, analyst = approved(team, count=3)
    runs = [start(request, analyst) for request in requests]
    team.max_active_runs = 3  # raised in the console
    team.save()

    assert reap_stuck()["executions_released"] == 2
    assert statuses(runs) == ["queued", "queued", "queued"]


def test_another_teams_burst_of_60_runs_delays_the_first_teams_next_run_by_at_most_its_two_slots(
    celery_worker_process, settings
):
    """The issue's measurement: the second team queues 60 trivial runs, then the first team runs one. With
    one FIFO queue it waited for all 60 (23.8 s instead of 0.6 s). Now the broker never holds more than the
    second team's two slots, so on this one-process worker the first team's run starts after at most two of
    the second team's runs: about 2 × 0.3–0.6 s here (printed below)."""
    first, second = TeamFactory(slug="first"), TeamFactory(slug="second", max_active_runs=2)
    burst_requests, burst_analyst = approved(second, count=60)
    (mine_request,), analyst = approved(first, count=1)

    burst = [start(request, burst_analyst) for request in burst_requests]
    active = Execution.objects.filter(request__team=second, status__in=[Status.QUEUED, Status.RUNNING])
    assert active.count() <= 2  # the other 58 or so wait in the database
    mine = start(mine_request, analyst)
    assert mine.status == Status.QUEUED

    celery_worker_process.wait_for(rf"execution {mine.pk}: claimed", timeout=300)
    celery_worker_process.wait_for(r"Task analysis\.tasks\.run_execution\[.*\] succeeded", timeout=120)

    mine.refresh_from_db()
    assert mine.status == Status.SUCCEEDED, mine.error
    ahead = Execution.objects.filter(
        request__team=second, started_at__gt=mine.queued_at, started_at__lt=mine.started_at
    )
    assert ahead.count() <= 2
    waited = (mine.started_at - mine.queued_at).total_seconds()
    print(f"the first team's run waited {waited:.2f} s behind {ahead.count()} of the burst's runs")
    assert Execution.objects.filter(pk__in=[b.pk for b in burst], status=Status.WAITING).exists()
