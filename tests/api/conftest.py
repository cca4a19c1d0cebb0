"""A team's worth of real rows in every state the API can show, made once per module by the services.

The schema tests call every operation as an analyst, a reviewer and an auditor; for the answers to cover
what clients will meet, the rows must be real: code generated with its plan (offline generator), a question
it asked to clarify, code checked by the policy against its plan, approved, rejected, revised (by the
reviewer and by the analyst), edited, voted on, blocked, run in the real sandbox (a chart, a table, files,
an exception), runs queued and waiting for a slot of the team's, uploads profiled in the sandbox (ready,
failed) and still waiting for it, budgets above their soft threshold, spend, sessions, an archived one, the
audit trail.
Building that takes a few sandbox runs, so it is done once per module, in a transaction that stays open
until the module ends and is then rolled back; each test runs in a savepoint on top of it (what a test
writes is rolled back too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings

from analysis.models import Dataset, Execution
from analysis.services.asking import analysis_submit
from analysis.services.datasets import dataset_create, dataset_profile
from analysis.services.execution import execution_run, execution_start
from analysis.services.generation import request_generate_code
from analysis.services.sessions import session_archive
from approvals.models import ApprovalRequest
from approvals.services import (
    approval_request_approve,
    approval_request_cancel,
    approval_request_edit,
    approval_request_generation_succeed,
    approval_request_reject,
    approval_request_revise,
)
from billing.models import Budget, Membership
from config.tokens import token_create, token_id
from tests.factories import (
    ApprovalRequestFactory,
    SessionFactory,
    TeamFactory,
    default_prices,
    demo_dataset,
    member,
)
from tests.uploads import xlsx_bomb

ROLES = (Membership.Role.ANALYST, Membership.Role.REVIEWER, Membership.Role.AUDITOR)

TABLE_AND_FILES = """
import pandas as pd
frame = pd.DataFrame({"region": ["north", "south"], "revenue": [120, 80]})
frame.to_csv("/output/summary.csv", index=False)
open("/output/notes.txt", "w").write("two regions")
print(frame.describe())
frame
"""
FAILS = "print('dividing')\n1 / 0\n"
NOT_ALLOWED_IMPORT = "import sqlite3\nprint(sqlite3.sqlite_version)\n"  # high risk: needs the quorum
RUNS_A_COMMAND = "import subprocess\nsubprocess.run(['ls'])\n"  # critical: blocked before review
PRINTS = "print('hello')\n"
# A plan that names other columns than its code reads: the card's plan check has findings.
PLAN_ELSEWHERE = "Adds up `units` for each `region` in sales.csv."
WEATHER = "What will the weather be in Paris tomorrow?"  # the offline generator asks to clarify
JSON_UPLOAD = b'{"city": ["Lyon", "Nantes"], "visits": [3, 5]}'


@dataclass
class World:
    """The rows, and the ids a client would hold: by path parameter name."""

    headers: dict[str, dict[str, str]]  # role -> Authorization header
    token_ids: dict[str, str]  # role -> its token's id
    request_ids: list[str] = field(default_factory=list)
    execution_ids: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    dataset_ids: list[str] = field(default_factory=list)  # in every status
    ready_dataset_ids: list[str] = field(default_factory=list)
    not_ready_dataset_id: str = ""
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (execution id, name)
    approved_request_id: str = ""
    revised_request_id: str = ""
    pending_request_id: str = ""


def _checked(*, team, user, code: str, session=None, plan: str = "") -> ApprovalRequest:
    """A request whose code came back from the generator: stored and checked by the policy."""
    placed = {"session": session} if session is not None else {}
    request = ApprovalRequestFactory(
        team=team, user=user, code="", status=ApprovalRequest.Status.GENERATING, **placed
    )
    return approval_request_generation_succeed(
        request=request, code=code, provider="offline", model="offline-rules-v1", plan=plan
    )


def _run(*, request: ApprovalRequest, analyst, reviewer) -> Execution:
    approval_request_approve(request=request, reviewer=reviewer)
    execution, _ = execution_start(request=request, user=analyst)
    return execution_run(execution_id=execution.pk)


def _uploads(*, team, analyst, folder) -> list[Dataset]:
    """Uploads profiled by the sandbox (one ready, one refused: failed), one being profiled, one queued."""
    made = folder / "made"
    made.mkdir()
    ready = dataset_create(team=team, name="visits.json", content=JSON_UPLOAD, user=analyst)
    refused = dataset_create(team=team, name="bomb.xlsx", content=xlsx_bomb(made), user=analyst)
    ready, refused = dataset_profile(dataset_id=ready.pk), dataset_profile(dataset_id=refused.pk)
    profiling = dataset_create(team=team, name="later.json", content=JSON_UPLOAD, user=analyst)
    dataset_create(team=team, name="more.json", content=JSON_UPLOAD, user=analyst)
    queued = dataset_create(team=team, name="last.json", content=JSON_UPLOAD, user=analyst)
    uploads = [ready, refused, profiling, queued]
    for upload in uploads:
        upload.refresh_from_db()
    assert [d.status for d in uploads] == ["ready", "failed", "profiling", "queued"], [
        (d.status, d.failure_reason) for d in uploads
    ]
    return uploads


def _build(folder) -> World:
    default_prices()
    team = TeamFactory(slug="acme", high_risk_quorum=2)
    analyst = member(team, Membership.Role.ANALYST, user__username="ann")
    reviewer = member(team, Membership.Role.REVIEWER, user__username="rita")
    second_reviewer = member(team, Membership.Role.REVIEWER, user__username="rob")
    auditor = member(team, Membership.Role.AUDITOR, user__username="otto")
    users = dict(zip(ROLES, (analyst, reviewer, auditor), strict=True))
    dataset = demo_dataset(team, rows=120)
    uploads = _uploads(team=team, analyst=analyst, folder=folder)
    # Soft thresholds at zero: every answer that can carry a budget warning carries one.
    Budget.objects.create(team=team, scope=Budget.Scope.TEAM, limit_usd=Decimal(500), soft_threshold=0)
    Budget.objects.create(
        team=team,
        scope=Budget.Scope.USER,
        user=analyst,
        period=Budget.Period.DAILY,
        limit_usd=Decimal(50),
        soft_threshold=0,
    )

    world = World(headers={}, token_ids={})
    for role, user in users.items():
        token, key = token_create(user=user)
        world.headers[role] = {"Authorization": f"Token {key}"}
        world.token_ids[role] = token_id(token)

    # Generated by the offline generator and run: a chart, printed output.
    chart = analysis_submit(
        user=analyst, query="Load sales.csv and plot monthly revenue by region", dataset_ids=[dataset.pk]
    )
    chart = request_generate_code(request_id=chart.pk)
    ran = [
        _run(request=chart, analyst=analyst, reviewer=reviewer),
        _run(
            request=_checked(team=team, user=analyst, code=TABLE_AND_FILES, session=chart.session),
            analyst=analyst,
            reviewer=reviewer,
        ),
        _run(request=_checked(team=team, user=analyst, code=FAILS), analyst=analyst, reviewer=reviewer),
    ]
    assert [e.status for e in ran] == ["succeeded", "succeeded", "failed"], [e.error for e in ran]
    assert ran[1].artifacts.count() == 2

    # A question the offline generator cannot answer: no code, a clarification.
    unclear = request_generate_code(request_id=analysis_submit(user=analyst, query=WEATHER).pk)
    assert unclear.status == "needs_clarification" and unclear.clarification

    # Rejected with a reason, then revised: version 2 with a previous version and a diff. Once asked for by
    # the reviewer, once by the analyst ("ask again with this feedback").
    revised = []
    for who in (reviewer, analyst):
        rejected = _checked(team=team, user=analyst, code=PRINTS, plan=PLAN_ELSEWHERE)
        approval_request_reject(request=rejected, reviewer=reviewer, reason="Print the revenue instead.")
        revision = approval_request_revise(request=rejected, user=who)
        request_generate_code(request_id=revision.pk)
        revised.append(rejected)
    # Edited by a reviewer: the original superseded, the edit waiting for another reviewer.
    edited = approval_request_edit(
        request=_checked(team=team, user=analyst, code=PRINTS), reviewer=second_reviewer, code="print('hi')\n"
    )
    # High risk: one of the two approvals the quorum needs.
    high = _checked(team=team, user=analyst, code=NOT_ALLOWED_IMPORT)
    approval_request_approve(request=high, reviewer=reviewer)
    blocked = _checked(team=team, user=analyst, code=RUNS_A_COMMAND)
    approved = _checked(team=team, user=analyst, code=PRINTS)
    approval_request_approve(request=approved, reviewer=reviewer)
    pending = _checked(team=team, user=analyst, code=PRINTS)
    approval_request_cancel(request=_checked(team=team, user=analyst, code=PRINTS), user=analyst)  # withdrawn
    # The team's run slots down to one: of two runs started, one is queued and the other waits for it.
    team.max_active_runs = 1
    team.save(update_fields=["max_active_runs"])
    slots = []
    for _ in range(2):
        started = _checked(team=team, user=analyst, code=PRINTS)
        approval_request_approve(request=started, reviewer=reviewer)
        slots.append(execution_start(request=started, user=analyst)[0])
    assert [e.status for e in slots] == ["queued", "waiting"]
    archived = SessionFactory(team=team, user=analyst, title="an archived question")
    session_archive(session=archived, user=analyst)

    world.request_ids = [
        str(pk) for pk in ApprovalRequest.objects.order_by("created_at").values_list("pk", flat=True)
    ]
    world.execution_ids = [str(e.pk) for e in [*ran, *slots]]
    world.session_ids = [str(chart.session_id), str(archived.pk), str(high.session_id)]
    world.dataset_ids = [str(d.pk) for d in [dataset, *uploads]]
    world.ready_dataset_ids = [str(dataset.pk), str(uploads[0].pk)]
    world.not_ready_dataset_id = str(uploads[2].pk)
    world.artifacts = [(str(ran[1].pk), a.name) for a in ran[1].artifacts.order_by("name")]
    world.approved_request_id, world.pending_request_id = str(approved.pk), str(pending.pk)
    world.revised_request_id = str(revised[-1].pk)
    statuses = set(ApprovalRequest.objects.values_list("status", flat=True))
    assert {
        "succeeded",
        "failed",
        "rejected",
        "superseded",
        "pending_review",
        "policy_blocked",
        "cancelled",
        "needs_clarification",
        "queued",
    } <= statuses
    assert blocked.status == "policy_blocked" and high.risk_level == "high" and edited.edited_by_id
    return world


@pytest.fixture(scope="module")
def world_media(tmp_path_factory):
    return tmp_path_factory.mktemp("world-media")


class _Discard(Exception):
    pass


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, world_media) -> World:
    """Built in a transaction that stays open for the module and is rolled back at its end: each test's
    own transaction is a savepoint inside it, so the rows are there for every test and never committed
    (nothing to empty afterwards, the seeded rows of other tests untouched, no task ever enqueued)."""
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=world_media, SANDBOX_BACKEND="local"):
        try:
            with transaction.atomic():
                yield _build(world_media)
                raise _Discard
        except _Discard:
            pass


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, world_media):
    """Overrides the suite's per-test media folder: the world's files (datasets, artifacts) are read."""
    settings.MEDIA_ROOT = world_media
