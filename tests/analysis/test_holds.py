"""A hold is the most the work can cost, every kind of work holds first, and an overspent budget refuses.

Runs hold the sandbox's longest counted time at the team's limits; generations hold a first call and a
repair round at their largest prompt and answer; a reviewer's new version holds like a question. A budget
whose spent passed its limit (a lowered limit, a charge above its hold) answers 402 with its details,
audited, and writes nothing — never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.conf import settings

from analysis.llm.prompt import generation_tokens_ceiling
from analysis.models import Execution, Message, Session
from analysis.services.execution import execution_cost_ceiling, execution_run, execution_start
from analysis.services.generation import generation_cost_ceiling, generation_input, request_generate_code
from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, approval_request_reject, code_sha256
from audit.models import AuditEvent
from billing.models import Budget, BudgetPeriod, CostSpan, Price, Reservation
from billing.services import budget_reserve, budget_save, budget_settle, price_save
from tests.billing.conftest import team_budget
from tests.factories import ApprovalRequestFactory, demo_dataset
from tests.fakes.mistral_server import FakeMistralServer

KEY = "test-key-holds"
GOOD = json.dumps({"plan": "Prints ok.", "code": "print('ok')\n"})
REFUSAL_FIELDS = {"code", "message", "scope", "limitUsd", "spentUsd", "reservedUsd", "resetsAt"}
Status = ApprovalRequest.Status


@pytest.fixture
def mistral(settings, prices) -> Iterator[FakeMistralServer]:
    with FakeMistralServer(api_key=KEY) as fake:
        settings.MISTRAL_API_KEY = KEY
        settings.MISTRAL_MODEL = "mistral-large-latest"
        settings.MISTRAL_SERVER_URL = fake.url
        settings.MISTRAL_TIMEOUT_SECONDS = 5.0
        yield fake


def approved(*, analyst, reviewer, team, code: str = "print('hello')\n") -> ApprovalRequest:
    request = ApprovalRequestFactory(user=analyst, team=team, code=code, code_sha256=code_sha256(code))
    request.risk_level = "low"
    request.save()
    return approval_request_approve(request=request, reviewer=reviewer)


def period_of(budget: Budget) -> BudgetPeriod:
    return BudgetPeriod.objects.get(budget=budget)


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.BUDGET_REFUSED).order_by("sequence"))


def counts() -> dict:
    models = (ApprovalRequest, Session, Message, Reservation, Execution, CostSpan)
    return {model.__name__: model.objects.count() for model in models}


def spend(team, analyst, amount: str) -> None:
    reservation = budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal(amount))
    budget_settle(reservation_id=reservation.pk, actual=Decimal(amount))


def assert_asking_and_running_are_refused(
    *, as_user, analyst, team, approved_request, expected: dict
) -> None:
    """POST /api/analyze and POST /api/execute both answer 402 with the budget's details, audited as
    budget.refused, and write nothing."""
    demo_dataset(team)
    before, audited = counts(), len(refusals())
    client = as_user(analyst)

    asked = client.post("/api/analyze", {"query": "total revenue by region"}, format="json")
    executed = client.post("/api/execute", {"requestId": str(approved_request.pk)}, format="json")

    for response in (asked, executed):
        assert response.status_code == 402, response.content
        error = response.json()["error"]
        assert set(error) == REFUSAL_FIELDS
        assert {k: error[k] for k in expected} == expected
        assert "has $0.00 left" in error["message"]
    assert counts() == before  # no request, session, message, hold, run or cost
    approved_request.refresh_from_db()
    assert approved_request.status == Status.APPROVED
    events = refusals()[audited:]
    assert [(e.actor, e.team, e.details["spentUsd"]) for e in events] == [
        (analyst, team, expected["spentUsd"]),
        (analyst, team, expected["spentUsd"]),
    ]


# --- overspent budgets ----------------------------------------------------------------------------------


def test_a_budget_lowered_below_its_spend_refuses_asking_and_running_with_402(
    as_user, analyst, reviewer, team, admin_user, prices
):
    budget = team_budget(team, "1.00")
    spend(team, analyst, "0.60")
    budget.limit_usd = Decimal("0.50")
    budget_save(budget=budget, actor=admin_user)
    run_me = approved(analyst=analyst, reviewer=reviewer, team=team)

    assert_asking_and_running_are_refused(
        as_user=as_user,
        analyst=analyst,
        team=team,
        approved_request=run_me,
        expected={
            "code": "budget_exceeded",
            "scope": "team",
            "limitUsd": "0.500000",
            "spentUsd": "0.60000000",
            "reservedUsd": "0.00000000",
        },
    )
    # The budget's own reports read it too: nothing left, not a negative amount, not a 500.
    (status,) = as_user(analyst).get("/api/budget").json()["results"]
    assert (status["spentUsd"], status["remainingUsd"]) == ("0.600000", "0.000000")


def test_a_run_charged_above_its_hold_is_recorded_and_then_asking_and_running_are_refused(
    as_user, analyst, reviewer, team, admin_user, prices
):
    """The sandbox's price rises while a run is under way: the charge passes the hold, the run still
    finishes, and the budget it took past its limit refuses what comes next."""
    first = approved(analyst=analyst, reviewer=reviewer, team=team)
    budget = team_budget(team, str(execution_cost_ceiling(team=team)))  # room for exactly this one run
    execution, _ = execution_start(request=first, user=analyst)
    hold = Reservation.objects.get(request=first, feature="execution")
    local = Price.objects.get(kind=Price.Kind.SANDBOX, name="local")
    # A million times dearer: even a run of one millisecond now costs more than 123 s did.
    local.usd_per_vcpu_second *= 1_000_000
    local.usd_per_gib_second *= 1_000_000
    price_save(price=local, actor=admin_user)

    ran = execution_run(execution_id=execution.pk)

    assert ran.status == Execution.Status.SUCCEEDED, ran.error
    hold.refresh_from_db()
    assert hold.status == Reservation.Status.SETTLED and hold.actual_usd > hold.amount_usd
    period = period_of(budget)
    assert (period.spent_usd, period.reserved_usd) == (hold.actual_usd, 0)
    assert period.spent_usd > budget.limit_usd
    second = approved(analyst=analyst, reviewer=reviewer, team=team)
    assert_asking_and_running_are_refused(
        as_user=as_user,
        analyst=analyst,
        team=team,
        approved_request=second,
        expected={"scope": "team", "spentUsd": f"{hold.actual_usd:f}"},
    )


# --- runs -----------------------------------------------------------------------------------------------


def test_a_run_killed_at_its_wall_limit_is_charged_no_more_than_its_hold(analyst, reviewer, team, prices):
    team.sandbox_limits = {"wall_seconds": 1}
    team.save()
    looping = approved(analyst=analyst, reviewer=reviewer, team=team, code="while True:\n    pass\n")
    ceiling = execution_cost_ceiling(team=team)
    budget = team_budget(team, str(ceiling))  # exactly one run's worst case
    execution, _ = execution_start(request=looping, user=analyst)
    hold = Reservation.objects.get(request=looping, feature="execution")
    assert hold.amount_usd == ceiling > 0

    ran = execution_run(execution_id=execution.pk)

    assert ran.status == Execution.Status.TIMED_OUT
    assert ran.duration_ms >= 1000
    hold.refresh_from_db()
    (charge,) = CostSpan.objects.filter(request=looping, feature="execution")
    assert 0 < charge.cost_usd == hold.actual_usd <= hold.amount_usd
    period = period_of(budget)
    assert (period.spent_usd, period.reserved_usd) == (charge.cost_usd, 0)
    assert period.spent_usd <= budget.limit_usd


def test_each_backend_holds_a_run_for_the_longest_it_counts_one(settings):
    from analysis.sandboxes import Limits, run_seconds_ceiling

    settings.E2B_TIMEOUT_SECONDS = 300
    # Local: the wall limit, the 2 s grace after the kill, 1 s to reap the killed tree.
    assert run_seconds_ceiling(Limits(wall_seconds=120), "local") == 123
    # E2B: the create request (30 s) and the sandbox's lifetime, at whose end E2B kills it.
    assert run_seconds_ceiling(Limits(wall_seconds=120), "e2b") == 30 + 300
    assert run_seconds_ceiling(Limits(wall_seconds=600), "e2b") == 30 + 600 + 30


# --- generations ----------------------------------------------------------------------------------------


def test_a_question_holds_a_first_call_and_a_repair_round_at_their_largest(
    as_user, analyst, team, mistral: FakeMistralServer
):
    """Mistral answers at the largest prompt and answer the hold was priced for, twice (a repair round):
    the charge is the hold, to the nano-dollar."""
    budget = team_budget(team, "10")
    demo_dataset(team)
    response = as_user(analyst).post("/api/analyze", {"query": "revenue by region"}, format="json")
    asked = ApprovalRequest.objects.get(pk=response.json()["requestId"])
    hold = Reservation.objects.get(request=asked, feature="generation")
    inp = generation_input(request=asked)
    assert hold.amount_usd == generation_cost_ceiling(inp=inp, model="mistral-large-latest")
    assert asked.budget_estimate == hold.amount_usd + execution_cost_ceiling(team=team)
    (first_in, first_out), (repair_in, repair_out) = generation_tokens_ceiling(
        inp=inp, max_output_tokens=settings.MISTRAL_MAX_OUTPUT_TOKENS
    )
    mistral.reply(content="no code here", prompt_tokens=first_in, completion_tokens=first_out)
    mistral.reply(content=GOOD, prompt_tokens=repair_in, completion_tokens=repair_out)

    generated = request_generate_code(request_id=asked.pk)

    assert generated.status == Status.PENDING_REVIEW
    assert [r.json["max_tokens"] for r in mistral.requests] == [settings.MISTRAL_MAX_OUTPUT_TOKENS] * 2
    hold.refresh_from_db()
    assert hold.actual_usd == hold.amount_usd
    period = period_of(budget)
    assert (period.spent_usd, period.reserved_usd) == (hold.amount_usd, 0)


def test_the_worker_raises_a_hold_the_prompt_outgrew_before_its_first_call(
    analyst, team, admin_user, mistral: FakeMistralServer
):
    budget = team_budget(team, "10")
    asked = _ask(analyst=analyst, team=team)  # held at mistral-large-latest's prices
    held = Reservation.objects.get(request=asked).amount_usd
    _raise_llm_price(admin_user, factor=2)
    mistral.reply(content=GOOD, prompt_tokens=900, completion_tokens=40)

    request_generate_code(request_id=asked.pk)

    reservation = Reservation.objects.get(request=asked)
    assert reservation.amount_usd == 2 * held and reservation.status == Reservation.Status.SETTLED
    assert period_of(budget).reserved_usd == 0


def test_the_worker_makes_no_call_when_the_larger_hold_does_not_fit(
    analyst, team, admin_user, mistral: FakeMistralServer
):
    asked = _ask(analyst=analyst, team=team)
    held = Reservation.objects.get(request=asked).amount_usd
    budget = Budget.objects.get(team=team)
    budget.limit_usd = held * Decimal("1.5")  # room for the hold, not for twice it
    budget_save(budget=budget, actor=admin_user)
    _raise_llm_price(admin_user, factor=2)

    failed = request_generate_code(request_id=asked.pk)

    assert failed.status == Status.GENERATION_FAILED
    assert failed.generation_error.startswith("This would cost up to $")
    assert mistral.requests == []  # no call was made
    reservation = Reservation.objects.get(request=asked)
    assert (reservation.status, reservation.amount_usd, reservation.actual_usd) == (
        Reservation.Status.SETTLED,
        held,
        0,
    )
    assert (period_of(budget).spent_usd, period_of(budget).reserved_usd) == (0, 0)
    (refused,) = refusals()
    assert refused.actor == analyst and refused.details["amount_usd"] == f"{2 * held:f}"


def _ask(*, analyst, team) -> ApprovalRequest:
    from analysis.services.asking import analysis_submit

    if not Budget.objects.filter(team=team).exists():
        team_budget(team, "10")
    demo_dataset(team)
    return analysis_submit(user=analyst, query="total revenue by region in sales.csv")


def _raise_llm_price(actor, *, factor: int) -> None:
    price = Price.objects.get(name="mistral-large-latest")
    price.input_usd_per_mtok *= factor
    price.output_usd_per_mtok *= factor
    price_save(price=price, actor=actor)


# --- a reviewer's new version ---------------------------------------------------------------------------


@pytest.fixture
def rejected(mistral: FakeMistralServer, analyst, reviewer, team) -> ApprovalRequest:
    asked = _ask(analyst=analyst, team=team)
    mistral.reply(content=GOOD, prompt_tokens=900, completion_tokens=40)
    generated = request_generate_code(request_id=asked.pk)
    return approval_request_reject(request=generated, reviewer=reviewer, reason="Use a bar chart.")


def test_a_new_version_holds_its_generation_and_its_cost_reaches_spent(
    as_user, reviewer, team, rejected: ApprovalRequest, mistral: FakeMistralServer
):
    period = period_of(Budget.objects.get(team=team))
    spent_before = period.spent_usd
    assert period.reserved_usd == 0

    response = as_user(reviewer).post(f"/api/requests/{rejected.pk}/revise")

    assert response.status_code == 202, response.content
    revision = ApprovalRequest.objects.get(pk=response.json()["requestId"])
    hold = Reservation.objects.get(request=revision, feature="generation")
    assert hold.status == Reservation.Status.ACTIVE
    assert hold.amount_usd == generation_cost_ceiling(
        inp=generation_input(request=revision), model="mistral-large-latest"
    )
    assert revision.budget_estimate == hold.amount_usd + execution_cost_ceiling(team=team)
    assert period_of(period.budget).reserved_usd == hold.amount_usd
    mistral.reply(content=GOOD, prompt_tokens=1500, completion_tokens=60)

    request_generate_code(request_id=revision.pk)

    (span,) = CostSpan.objects.filter(request=revision)
    hold.refresh_from_db()
    assert hold.status == Reservation.Status.SETTLED and hold.actual_usd == span.cost_usd > 0
    period.refresh_from_db()
    assert (period.spent_usd, period.reserved_usd) == (spent_before + span.cost_usd, 0)


def test_a_new_version_over_budget_is_refused_and_the_rejected_request_stays_as_it_was(
    as_user,
    analyst,
    reviewer,
    team,
    admin_user,
    rejected: ApprovalRequest,
    django_capture_on_commit_callbacks,
):
    budget = Budget.objects.get(team=team)
    budget.limit_usd = Decimal("0.000001")  # below what the first version already cost
    budget_save(budget=budget, actor=admin_user)
    rejected.refresh_from_db()
    before, updated_at = counts(), rejected.updated_at

    with django_capture_on_commit_callbacks() as callbacks:
        response = as_user(reviewer).post(f"/api/requests/{rejected.pk}/revise")

    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], error["scope"], error["limitUsd"]) == ("budget_exceeded", "team", "0.000001")
    assert counts() == before and callbacks == []  # no new version, message, hold, or generation queued
    rejected.refresh_from_db()
    assert (rejected.status, rejected.updated_at) == (Status.REJECTED, updated_at)
    assert not rejected.revisions.exists()
    (refused,) = refusals()
    assert (refused.actor, refused.team) == (reviewer, team)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REQUEST_REVISED).exists()
