"""Profiling XLSX/Parquet/JSON uploads: a worker's task on the execute queue, in the sandbox, a few at a
time per team, priced, held for, settled and audited like a run; only ready datasets can be asked about."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analysis.dataset_formats import profiling_limits
from analysis.models import Dataset
from analysis.services.datasets import dataset_create, dataset_profile
from analysis.services.execution import sandbox_cost_ceiling
from analysis.services.reaper import reap_stuck
from audit.models import AuditEvent
from billing.models import BudgetPeriod, CostSpan, Reservation
from tests.billing.conftest import team_budget
from tests.factories import TeamFactory, member
from tests.threads import run_together
from tests.uploads import made_by_pandas, profile_waiting, xlsx_bomb

Action = AuditEvent.Action
Status = Dataset.Status
JSON = b'{"city": ["Lyon", "Nantes"], "visits": [3, 5]}'


def api_upload(client, name: str, content: bytes, **fields):
    return client.post(
        "/api/datasets", {"file": SimpleUploadedFile(name, content), **fields}, format="multipart"
    )


def held_for_a_profile() -> Decimal:
    """The most a profile can be charged: the sandbox at the profile's limits (45 s, 1 GiB), full length."""
    limits = profiling_limits()
    assert (limits.wall_seconds, limits.memory_mb) == (45, 1024)
    return sandbox_cost_ceiling(limits=limits)


# --- the upload answers at once; the worker profiles --------------------------------------------------


def test_an_xlsx_upload_answers_202_profiling_and_the_worker_makes_it_ready(
    analyst, as_user, prices, tmp_path
):
    client = as_user(analyst)
    response = api_upload(client, "visits.xlsx", made_by_pandas(tmp_path, "visits.xlsx", "to_excel"))
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["rowCount"], body["columns"], body["failureReason"]) == (
        "profiling",
        0,
        [],
        "",
    )
    dataset = Dataset.objects.get(pk=body["id"])
    assert (
        dataset.enqueued_at is not None and dataset.profiling_started_at is None
    )  # nothing ran in the request
    assert not CostSpan.objects.exists()

    profile_waiting()

    detail = client.get(f"/api/datasets/{dataset.pk}").json()
    assert (detail["status"], detail["rowCount"], detail["columnCount"]) == ("ready", 3, 2)
    assert detail["profiledAt"] is not None
    (listed,) = client.get("/api/datasets").json()["results"]
    assert (listed["status"], listed["failureReason"]) == ("ready", "")


def test_a_csv_upload_is_profiled_in_the_request_and_answers_201_ready(analyst, as_user):
    response = api_upload(as_user(analyst), "visits.csv", b"city,visits\nLyon,3\n", allowSampleSharing="true")
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["rowCount"], body["allowSampleSharing"]) == ("ready", 1, True)
    dataset_events = AuditEvent.objects.filter(action__startswith="dataset.").order_by("sequence")
    actions = list(dataset_events.values_list("action", "details__profiler"))
    assert actions == [(Action.DATASET_UPLOADED, None), (Action.DATASET_PROFILED, "app")]
    assert not Reservation.objects.exists()  # no sandbox, nothing to hold for


def test_an_upload_is_held_for_priced_settled_and_audited_like_a_run(team, analyst, prices, tmp_path):
    budget = team_budget(team, "10")
    dataset = dataset_create(team=team, name="visits.json", content=JSON, user=analyst)
    reservation = dataset.reservation
    assert (reservation.feature, reservation.status) == (
        CostSpan.Feature.PROFILING,
        Reservation.Status.ACTIVE,
    )
    assert reservation.amount_usd == held_for_a_profile() > 0
    assert BudgetPeriod.objects.get(budget=budget).reserved_usd == reservation.amount_usd

    dataset_profile(dataset_id=dataset.pk)

    (span,) = CostSpan.objects.all()
    assert (span.feature, span.tenant, span.user, span.model) == ("profiling", team, analyst, "sandbox")
    assert 0 < span.seconds < 45 and 0 < span.cost_usd < reservation.amount_usd
    reservation.refresh_from_db()
    assert (reservation.status, reservation.actual_usd) == (Reservation.Status.SETTLED, span.cost_usd)
    period = BudgetPeriod.objects.get(budget=budget)
    assert (period.reserved_usd, period.spent_usd) == (0, span.cost_usd)
    uploaded, profiled = AuditEvent.objects.filter(target_id=str(dataset.pk)).order_by("sequence")
    assert (uploaded.action, uploaded.actor, uploaded.details["status"]) == (
        Action.DATASET_UPLOADED,
        analyst,
        "queued",
    )
    assert Decimal(uploaded.details["held_usd"]) == reservation.amount_usd
    assert profiled.action == Action.DATASET_PROFILED
    assert profiled.details["cost_usd"] == str(span.cost_usd) and profiled.details["rows"] == 2


def test_an_upload_over_the_budget_is_refused_402_stores_nothing_and_is_audited(
    team, analyst, as_user, prices
):
    team_budget(team, "0.0001")
    response = api_upload(as_user(analyst), "visits.json", JSON)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert not Dataset.objects.exists() and not Reservation.objects.exists()
    (refused,) = AuditEvent.objects.filter(action=Action.DATASET_REFUSED)
    assert (refused.actor, refused.details["stage"], refused.details["code"]) == (
        analyst,
        "upload",
        "budget_exceeded",
    )
    assert AuditEvent.objects.filter(action=Action.BUDGET_REFUSED).count() == 1


def test_an_upload_refused_at_once_is_audited_with_its_reason(team, analyst, as_user):
    response = api_upload(as_user(analyst), "visits.xlsx", b"not a zip at all")
    assert response.status_code == 400
    message = "“visits.xlsx” is not a real Excel (XLSX) file (its contents do not match the name)."
    assert response.json()["error"]["message"] == message
    (refused,) = AuditEvent.objects.filter(action=Action.DATASET_REFUSED)
    assert refused.details == {
        "stage": "upload",
        "name": "visits.xlsx",
        "size": 16,
        "code": "invalid_dataset",
        "reason": message,
    }
    assert (refused.team, refused.actor) == (team, analyst)


def test_a_failed_uploads_name_is_free_for_the_corrected_file(team, analyst, prices):
    failed = dataset_create(team=team, name="visits.parquet", content=b"PAR1 broken", user=analyst)
    dataset_profile(dataset_id=failed.pk)
    failed.refresh_from_db()
    assert failed.status == Status.FAILED
    again = dataset_create(team=team, name="visits.json", content=JSON, user=analyst)
    assert again.status == Status.PROFILING
    with pytest.raises(Exception, match="already has a dataset named “visits.json”"):
        dataset_create(team=team, name="visits.json", content=JSON, user=analyst)
    corrected = dataset_create(team=team, name="visits.parquet", content=b"PAR1 still broken", user=analyst)
    assert corrected.status == Status.PROFILING  # a second slot; the failed row stays as the record
    assert Dataset.objects.filter(name="visits.parquet").count() == 2


# --- the zip bomb ---------------------------------------------------------------------------------------


def test_an_xlsx_zip_bomb_answers_at_once_and_the_worker_refuses_it(
    celery_worker_process, team, analyst, as_user, prices, tmp_path
):
    bomb = xlsx_bomb(tmp_path)
    assert len(bomb) < 400_000  # the 383 KB file: 150 MB of sheet XML
    response = api_upload(as_user(analyst), "bomb.xlsx", bomb)
    assert response.status_code == 202 and response.json()["status"] == "profiling"

    celery_worker_process.wait_for_task("analysis.tasks.profile_dataset", response.json()["id"])

    dataset = Dataset.objects.get(pk=response.json()["id"])
    assert dataset.status == Status.FAILED
    assert dataset.failure_reason.startswith("“bomb.xlsx” unpacks to more than 100 MB (it says 150 MB)")
    assert dataset.row_count == 0 and dataset.columns == []
    (refused,) = AuditEvent.objects.filter(action=Action.DATASET_REFUSED)
    assert (refused.details["stage"], refused.target_id) == ("profile", str(dataset.pk))
    (span,) = CostSpan.objects.filter(feature=CostSpan.Feature.PROFILING)
    assert 0 < span.seconds < 45  # refused from the members' sizes, long before the sandbox's limits
    assert Reservation.objects.get().status == Reservation.Status.SETTLED


def test_a_file_within_the_unpacked_cap_but_too_slow_is_stopped_by_the_sandboxs_limits(
    settings, team, analyst, prices, tmp_path
):
    settings.SANDGATE_DATASET_MAX_EXPANDED_MB = 1000
    settings.SANDGATE_PROFILE_CPU_SECONDS = 2
    dataset = dataset_create(team=team, name="bomb.xlsx", content=xlsx_bomb(tmp_path), user=analyst)
    dataset_profile(dataset_id=dataset.pk)
    dataset.refresh_from_db()
    assert dataset.status == Status.FAILED
    assert dataset.failure_reason.startswith("Sandgate could not read “bomb.xlsx” as Excel (XLSX): ")
    assert "CPU limit" in dataset.failure_reason  # the run's CPU budget or a process's own rlimit


# --- a few at a time per team ---------------------------------------------------------------------------


def test_each_team_profiles_at_most_its_limit_at_once_and_the_rest_wait_oldest_first(
    settings, team, analyst, prices
):
    settings.SANDGATE_PROFILING_PER_TEAM = 1
    first, second, third = (
        dataset_create(team=team, name=f"{n}.json", content=JSON, user=analyst) for n in ("a", "b", "c")
    )
    other_team = TeamFactory()
    theirs = dataset_create(team=other_team, name="a.json", content=JSON, user=member(other_team))
    assert [first.status, second.status, third.status, theirs.status] == [
        "profiling",
        "queued",
        "queued",
        "profiling",
    ]
    assert second.enqueued_at is None  # waiting in the database, not in the broker

    dataset_profile(dataset_id=first.pk)
    second.refresh_from_db()
    third.refresh_from_db()
    assert (second.status, third.status) == (Status.PROFILING, Status.QUEUED)
    assert second.enqueued_at is not None

    assert dataset_profile(dataset_id=third.pk) is None  # not its turn: a stray message does nothing
    profile_waiting()
    third.refresh_from_db()
    assert third.status == Status.PROFILING
    profile_waiting()
    assert set(Dataset.objects.values_list("status", flat=True)) == {Status.READY}


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_never_take_more_than_the_teams_profiling_slots(settings, prices):
    settings.SANDGATE_PROFILING_PER_TEAM = 2
    team = TeamFactory()
    user = member(team)

    results = run_together(
        [lambda n=n: dataset_create(team=team, name=f"{n}.json", content=JSON, user=user) for n in range(8)]
    )

    assert all(isinstance(r, Dataset) for r in results), results
    statuses = sorted(Dataset.objects.values_list("status", flat=True))
    assert statuses == ["profiling"] * 2 + ["queued"] * 6


def test_the_reaper_fails_a_profile_whose_worker_died_and_gives_its_slot_to_the_next(
    settings, team, analyst, prices
):
    settings.SANDGATE_PROFILING_PER_TEAM = 1
    budget = team_budget(team, "10")
    lost = dataset_create(team=team, name="lost.json", content=JSON, user=analyst)
    waiting = dataset_create(team=team, name="next.json", content=JSON, user=analyst)
    now = timezone.now()
    Dataset.objects.filter(pk=lost.pk).update(
        profiling_started_at=now, lease_expires_at=now
    )  # claimed, then…

    counts = reap_stuck(now=now + timedelta(seconds=1))

    assert counts["profiles_interrupted"] == 1
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert (lost.status, waiting.status) == (Status.FAILED, Status.PROFILING)
    assert "stopped (it crashed or was restarted)" in lost.failure_reason
    assert Reservation.objects.get(pk=lost.reservation_id).status == Reservation.Status.RELEASED
    assert BudgetPeriod.objects.get(budget=budget).reserved_usd == waiting.reservation.amount_usd
    (refused,) = AuditEvent.objects.filter(action=Action.DATASET_REFUSED)
    assert refused.details["stage"] == "interrupted"


def test_the_reaper_publishes_again_a_profile_never_claimed_and_releases_free_slots(
    settings, team, analyst, prices
):
    dataset = dataset_create(team=team, name="a.json", content=JSON, user=analyst)
    later = timezone.now() + timedelta(seconds=settings.SANDGATE_REQUEUE_AFTER_SECONDS + 1)
    settings.SANDGATE_PROFILING_PER_TEAM = 0
    waiting = dataset_create(team=team, name="b.json", content=JSON, user=analyst)
    assert waiting.status == Status.QUEUED
    settings.SANDGATE_PROFILING_PER_TEAM = 5  # raised: the reaper hands out the new slots

    counts = reap_stuck(now=later)

    assert (counts["profiles_requeued"], counts["profiles_released"]) == (1, 1)
    waiting.refresh_from_db()
    assert waiting.status == Status.PROFILING
    dataset.refresh_from_db()
    assert dataset.status == Status.PROFILING


# --- only ready datasets are asked about ---------------------------------------------------------------


def test_a_dataset_not_ready_cannot_be_chosen_for_a_question(team, analyst, as_user, prices):
    dataset = dataset_create(team=team, name="visits.json", content=JSON, user=analyst)
    client = as_user(analyst)
    ask = {"query": "How many visits per city in visits.json?", "datasetIds": [str(dataset.pk)]}

    response = client.post("/api/analyze", ask, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["datasetStatus"]) == ("dataset_not_ready", "profiling")
    assert error["message"] == "“visits.json” is still being profiled; ask again once it is ready."

    Dataset.objects.filter(pk=dataset.pk).update(status=Status.FAILED, failure_reason="It is broken.")
    failed = client.post("/api/analyze", ask, format="json").json()["error"]
    assert failed["message"] == "“visits.json” could not be used: It is broken. Upload a corrected file."

    # Named in the question but not ready: not picked up silently either.
    response = client.post("/api/analyze", {"query": ask["query"]}, format="json")
    assert response.status_code == 202
    assert client.get(f"/api/requests/{response.json()['requestId']}").json()["datasets"] == []


def test_the_ask_page_offers_only_ready_datasets_and_says_what_is_still_profiling(team, analyst):
    from django.test import Client

    from tests.factories import demo_dataset

    ready = demo_dataset(team)
    Dataset.objects.create(team=team, name="later.json", status=Status.PROFILING)
    Dataset.objects.create(team=team, name="broken.json", status=Status.FAILED, failure_reason="x")
    browser = Client()
    browser.force_login(type(analyst).objects.get(pk=analyst.pk))
    body = browser.get("/ask/").content.decode()
    assert f'value="{ready.pk}"' in body and "later.json" not in body and "broken.json" not in body
    assert "1 upload is still being profiled" in body


def test_the_dataset_page_polls_while_profiling(team, analyst):
    from django.test import Client

    dataset = Dataset.objects.create(team=team, name="later.json", status=Status.PROFILING)
    browser = Client()
    browser.force_login(type(analyst).objects.get(pk=analyst.pk))
    page = browser.get(f"/datasets/{dataset.pk}/").content.decode()
    assert f'hx-get="/datasets/{dataset.pk}/status/"' in page and "Being profiled in the sandbox" in page
    Dataset.objects.filter(pk=dataset.pk).update(status=Status.READY, row_count=4)
    fragment = browser.get(f"/datasets/{dataset.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert "4 rows" in fragment and "hx-get" not in fragment
    other = TeamFactory()
    theirs = Dataset.objects.create(team=other, name="theirs.json", status=Status.PROFILING)
    assert browser.get(f"/datasets/{theirs.pk}/status/", HTTP_HX_REQUEST="true").status_code == 404
