"""Artifacts and per-team limits through the real service, worker-side sandbox and API (no mocks)."""

from __future__ import annotations

import pytest

from analysis.models import Artifact
from analysis.services.execution import execution_run, execution_start
from approvals.services import approval_request_approve
from audit.models import AuditEvent
from billing.models import Membership
from tests.factories import ApprovalRequestFactory, TeamFactory, member

WRITES_TWO_FILES = """
import pandas as pd
pd.DataFrame({"region": ["north", "south"], "revenue": [120, 80]}).to_csv("/output/summary.csv", index=False)
open("/output/notes.txt", "w").write("two regions")
print("done")
"""


@pytest.fixture
def settings_small_limits(settings):
    settings.SANDBOX_BACKEND = "local"
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "wall_seconds": 30, "cpu_seconds": 20}
    return settings


def run_approved(*, analyst, reviewer, team, code: str):
    request = ApprovalRequestFactory(user=analyst, team=team, code=code)
    approval_request_approve(request=request, reviewer=reviewer)
    execution, _ = execution_start(request=request, user=analyst)
    return execution_run(execution_id=execution.pk)


def test_output_files_become_artifacts_downloadable_by_those_who_may_see_the_request(
    settings_small_limits, analyst, reviewer, team, as_user
):
    execution = run_approved(analyst=analyst, reviewer=reviewer, team=team, code=WRITES_TWO_FILES)

    assert execution.status == "succeeded", execution.error
    detail = as_user(analyst).get(f"/api/executions/{execution.pk}").json()
    assert [(a["name"], a["size"]) for a in detail["artifacts"]] == [("notes.txt", 11), ("summary.csv", 34)]
    summary = next(a for a in detail["artifacts"] if a["name"] == "summary.csv")
    assert summary["contentType"] == "text/csv"

    response = as_user(analyst).get(summary["url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"region,revenue\nnorth,120\nsouth,80\n"
    assert response["Content-Disposition"] == 'attachment; filename="summary.csv"'
    assert response["X-Content-Type-Options"] == "nosniff"
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.ARTIFACT_DOWNLOADED)
    assert event.actor_id == analyst.pk and event.details["name"] == "summary.csv"
    stored = Artifact.objects.get(execution=execution, name="summary.csv")
    assert stored.file.name.startswith(f"artifacts/{execution.pk}/") and "summary" not in stored.file.name


def test_artifacts_are_hidden_from_other_teams_and_unknown_names(
    settings_small_limits, analyst, reviewer, team, as_user
):
    execution = run_approved(analyst=analyst, reviewer=reviewer, team=team, code=WRITES_TWO_FILES)
    outsider = member(TeamFactory(slug="globex"), Membership.Role.ANALYST, user__username="eve")

    assert as_user(outsider).get(f"/api/executions/{execution.pk}/artifacts/summary.csv").status_code == 404
    assert as_user(analyst).get(f"/api/executions/{execution.pk}/artifacts/missing.csv").status_code == 404
    assert as_user(analyst).get(f"/api/executions/{execution.pk}/artifacts/..%2Fx").status_code == 404
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ARTIFACT_DOWNLOADED).exists()


def test_team_limit_overrides_apply_and_the_limits_in_force_are_recorded(
    settings_small_limits, analyst, reviewer, team
):
    team.sandbox_limits = {"wall_seconds": 7, "artifact_count": 1}
    team.save()

    execution = run_approved(analyst=analyst, reviewer=reviewer, team=team, code=WRITES_TWO_FILES)

    assert execution.status == "succeeded", execution.error
    assert execution.limits["wall_seconds"] == 7
    assert execution.limits["artifact_count"] == 1
    assert execution.limits["team_overrides"] == ["artifact_count", "wall_seconds"]
    assert execution.limits["seccomp"] and execution.limits["backend"] == "local"
    assert list(execution.artifacts.values_list("name", flat=True)) == ["notes.txt"]
