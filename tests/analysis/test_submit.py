"""Asking a question (`analysis_submit`): the team, session and datasets chosen, the rows written, refusals.

Each scenario runs in a savepoint rolled back afterwards and reports what it returned or refused and what
it wrote (sessions, requests and their datasets, reservations, budget periods, messages, audit events).
"""

import contextlib
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone

from analysis.models import Dataset, Message, Session
from analysis.services.asking import analysis_submit
from approvals.models import ApprovalRequest
from audit.middleware import current_http_request
from audit.models import AuditEvent
from billing.models import Budget, BudgetPeriod, Membership, Price, Reservation
from billing.money import usd_to_nanos
from config.exceptions import ApplicationError
from tests.billing.conftest import team_budget, user_budget
from tests.factories import SessionFactory, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db

TABLES = [Session, ApprovalRequest, Reservation, Message, AuditEvent]


class _Undo(Exception):
    pass


@contextlib.contextmanager
def undone():
    """Run the block in a savepoint rolled back afterwards: the next scenario starts from the same state."""
    try:
        with transaction.atomic():
            yield
            raise _Undo
    except _Undo:
        pass


def run(**kwargs) -> dict:
    """Submit in a savepoint: what it returned or refused, and what it wrote; then undo."""
    before = {model: set(model.objects.values_list("pk", flat=True)) for model in TABLES}
    activity = dict(Session.objects.values_list("pk", "last_activity_at"))
    outcome = {}
    with undone():
        try:
            request = analysis_submit(**kwargs)
        except ApplicationError as error:
            outcome["refused"] = (type(error), error.code, error.status_code, error.message)
            outcome["refused_extra"] = error.extra
        else:
            outcome["returned"] = {
                "team_id": request.team_id,
                "status": request.status,
                "budget_estimate": request.budget_estimate,
                "above_soft_threshold": request.budget_above_soft_threshold,
            }
        outcome["written"] = written(before=before)
        outcome["touched_sessions"] = sorted(
            str(pk)
            for pk, at in Session.objects.values_list("pk", "last_activity_at")
            if at != activity.get(pk)
        )
    return outcome


def written(*, before: dict) -> dict:
    rows = {}
    for model in TABLES:
        new = model.objects.exclude(pk__in=before[model]).order_by(
            "sequence" if model is AuditEvent else "pk"
        )
        rows[model.__name__] = [
            {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields} for obj in new
        ]
        if model is ApprovalRequest:
            for row, obj in zip(rows[model.__name__], new, strict=True):
                row["datasets"] = sorted(obj.datasets.values_list("name", flat=True))
    rows["BudgetPeriod"] = sorted(
        (p.budget_id, p.spent_usd, p.reserved_usd, p.warned) for p in BudgetPeriod.objects.all()
    )
    return rows


@pytest.fixture
def world(prices):
    """A team with two datasets, an analyst in it, and a second team the analyst also asks in."""
    team = TeamFactory(slug="b-team")
    analyst = member(team)
    for name in ("sales.csv", "costs.csv"):
        Dataset.objects.create(team=team, name=name, size=1, sha256="0" * 64)
    second = TeamFactory(slug="c-team")
    Membership.objects.create(team=second, user=analyst, role=Membership.Role.REVIEWER)
    Dataset.objects.create(team=second, name="only.csv", size=1, sha256="0" * 64)
    team_budget(team, "100")
    return {"team": team, "analyst": analyst, "second": second}


def ask(world, query="Plot revenue by month", **kwargs) -> dict:
    return {
        "user": world["analyst"],
        "query": query,
        "session_id": None,
        "dataset_ids": None,
        "team_id": None,
    } | kwargs


def dataset(team, name) -> Dataset:
    return Dataset.objects.get(team=team, name=name)


def test_a_new_question_with_two_datasets_and_none_named_is_recorded(world):
    outcome = run(**ask(world))
    assert outcome["returned"]["status"] == ApprovalRequest.Status.GENERATING
    assert [e["action"] for e in outcome["written"]["AuditEvent"]] == ["session.created", "request.created"]
    assert outcome["written"]["ApprovalRequest"][0]["datasets"] == []
    assert len(outcome["written"]["Reservation"]) == 1 and len(outcome["written"]["Message"]) == 1


def test_the_datasets_a_question_names_are_chosen(world):
    outcome = run(**ask(world, query="Load SALES.csv and costs.csv, compare them"))
    assert outcome["written"]["ApprovalRequest"][0]["datasets"] == ["costs.csv", "sales.csv"]
    assert outcome["written"]["AuditEvent"][-1]["details"]["datasets"] == ["costs.csv", "sales.csv"]


def test_the_only_dataset_of_a_team_is_chosen(world):
    outcome = run(**ask(world, team_id=str(world["second"].pk)))
    assert outcome["written"]["ApprovalRequest"][0]["datasets"] == ["only.csv"]
    assert outcome["returned"]["team_id"] == world["second"].pk


def test_datasets_given_by_id_are_chosen(world):
    ids = [dataset(world["team"], "sales.csv").pk, dataset(world["team"], "costs.csv").pk]
    outcome = run(**ask(world, dataset_ids=ids + ids[:1]))  # a repeated id counts once
    assert outcome["written"]["ApprovalRequest"][0]["datasets"] == ["costs.csv", "sales.csv"]


@pytest.mark.parametrize("which", ["unknown", "another team's"])
def test_a_dataset_id_not_of_the_team_is_refused(world, which):
    other = uuid.uuid4() if which == "unknown" else dataset(world["second"], "only.csv").pk
    outcome = run(**ask(world, dataset_ids=[dataset(world["team"], "sales.csv").pk, other]))
    assert outcome["refused"][1:] == ("not_found", 404, "Dataset not found.")
    assert not any(outcome["written"].get(m.__name__) for m in TABLES)


def test_a_follow_up_uses_the_previous_questions_datasets(world):
    first = analysis_submit(user=world["analyst"], query="Load costs.csv")
    outcome = run(**ask(world, query="Now by quarter", session_id=first.session_id))
    assert outcome["written"]["ApprovalRequest"][0]["datasets"] == ["costs.csv"]
    assert outcome["touched_sessions"] == [str(first.session_id)]
    assert [e["action"] for e in outcome["written"]["AuditEvent"]] == ["request.created"]


def test_a_follow_up_to_a_question_without_datasets_gets_none(world):
    first = analysis_submit(user=world["analyst"], query="What is 2 + 2?", team_id=str(world["second"].pk))
    ApprovalRequest.objects.get(pk=first.pk).datasets.clear()
    outcome = run(
        **ask(world, query="And 3 + 3?", session_id=first.session_id, team_id=str(world["second"].pk))
    )
    assert outcome["written"]["ApprovalRequest"][0]["datasets"] == []


def test_a_session_without_questions_falls_back_to_the_only_dataset(world):
    session = SessionFactory(user=world["analyst"], team=world["second"])
    outcome = run(**ask(world, session_id=session.pk, team_id=str(world["second"].pk)))
    assert outcome["written"]["ApprovalRequest"][0]["datasets"] == ["only.csv"]


@pytest.mark.parametrize("team_id", [None, "", "not-a-uuid", str(uuid.uuid4())])
def test_without_a_team_of_the_users_the_first_by_slug_is_chosen(world, team_id):
    outcome = run(**ask(world, team_id=team_id))
    assert outcome["returned"]["team_id"] == world["team"].pk


def test_another_teams_id_is_not_a_way_in(world):
    stranger = TeamFactory(slug="a-team")  # first by slug, but the analyst is not in it
    outcome = run(**ask(world, team_id=str(stranger.pk)))
    assert outcome["returned"]["team_id"] == world["team"].pk


def test_a_user_who_may_not_ask_is_refused(world):
    auditor = UserFactory()
    Membership.objects.create(team=world["team"], user=auditor, role=Membership.Role.AUDITOR)
    outcome = run(**ask(world) | {"user": auditor})
    assert outcome["refused"][1:3] == ("no_team", 403)


def test_someone_elses_session_is_not_found(world):
    theirs = SessionFactory(user=member(world["team"]), team=world["team"])
    outcome = run(**ask(world, session_id=theirs.pk))
    assert outcome["refused"][1:] == ("not_found", 404, "Session not found.")


def test_a_session_of_the_users_other_team_is_not_found(world):
    mine = SessionFactory(user=world["analyst"], team=world["second"])
    outcome = run(**ask(world, session_id=mine.pk))
    assert outcome["refused"][1:] == ("not_found", 404, "Session not found.")


@pytest.mark.parametrize("status", [Session.Status.ARCHIVED, Session.Status.EXPIRED])
def test_a_closed_session_is_refused(world, status):
    session = SessionFactory(user=world["analyst"], team=world["team"], status=status)
    outcome = run(**ask(world, session_id=session.pk))
    assert outcome["refused"][1:] == ("session_closed", 409, f"The session is {status}; start a new one.")


def test_an_idle_session_is_refused(world):
    session = SessionFactory(user=world["analyst"], team=world["team"])
    idle = timezone.now() - timedelta(hours=settings.SESSION_IDLE_EXPIRY_HOURS, minutes=1)
    Session.objects.filter(pk=session.pk).update(last_activity_at=idle)
    outcome = run(**ask(world, session_id=session.pk))
    assert outcome["refused"][1:3] == ("session_closed", 409)
    assert "idle" in outcome["refused"][3]


def test_a_question_over_budget_is_refused_and_only_the_refusal_is_written(world, settings):
    settings.MISTRAL_API_KEY = "configured"  # priced with mistral-large-latest, not the free offline model
    user_budget(world["team"], world["analyst"], "0.001")
    outcome = run(**ask(world))
    assert outcome["refused"][1:3] == ("budget_exceeded", 402)
    assert outcome["refused_extra"]["scope"] == Budget.Scope.USER
    written = outcome["written"]
    assert [e["action"] for e in written["AuditEvent"]] == ["budget.refused"]
    assert not written["Session"] and not written["ApprovalRequest"] and not written["Reservation"]


def test_crossing_a_soft_threshold_warns_once(world, settings):
    settings.MISTRAL_API_KEY = "configured"
    user_budget(world["team"], world["analyst"], "1.00", soft_threshold=Decimal("0.01"))
    outcome = run(**ask(world))
    assert outcome["returned"]["above_soft_threshold"] is True
    actions = [e["action"] for e in outcome["written"]["AuditEvent"]]
    assert actions == ["session.created", "budget.soft_threshold", "request.created"]
    assert any(warned for *_, warned in outcome["written"]["BudgetPeriod"])


def test_above_a_soft_threshold_the_teams_cheaper_model_prices_the_question(world, settings):
    settings.MISTRAL_API_KEY = "configured"
    world["team"].budget_downgrade_model = "mistral-small-latest"
    world["team"].save()
    budget = user_budget(world["team"], world["analyst"], "1", soft_threshold=Decimal("0.5"))
    BudgetPeriod.objects.create(budget=budget, period_start=budget_start(budget), spent_usd=Decimal("0.6"))
    downgraded = run(**ask(world))
    BudgetPeriod.objects.filter(budget=budget).update(spent_nanos=usd_to_nanos("0.1"))
    full_price = run(**ask(world))
    assert downgraded["returned"]["budget_estimate"] < full_price["returned"]["budget_estimate"]


def budget_start(budget):
    from billing.periods import period_start

    return period_start(period=budget.period, at=timezone.now())


@pytest.mark.parametrize("missing", ["llm", "sandbox", "both kinds"])
def test_unknown_models_and_backends_are_priced_like_the_dearest(world, settings, missing):
    settings.MISTRAL_API_KEY = "configured"
    if missing == "llm":
        settings.MISTRAL_MODEL = "mistral-unknown-latest"
    if missing == "sandbox":
        Price.objects.filter(kind=Price.Kind.SANDBOX, name=settings.SANDBOX_BACKEND).delete()
    if missing == "both kinds":
        Price.objects.all().delete()  # then the built-in, deliberately dear, fallbacks
    outcome = run(**ask(world))
    assert outcome["returned"]["budget_estimate"] > 0


def test_who_asked_and_from_where_is_audited(world):
    http = RequestFactory().post("/api/analyze", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="curl/8.5")
    token = current_http_request.set(http)
    try:
        outcome = run(**ask(world))
    finally:
        current_http_request.reset(token)
    event = outcome["written"]["AuditEvent"][-1]
    assert event["action"] == "request.created"
    assert (event["ip_address"], event["user_agent"]) == ("203.0.113.9", "curl/8.5")
    assert event["actor_label"] == world["analyst"].username
