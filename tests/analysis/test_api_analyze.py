import pytest

from analysis.models import Message, Session
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from tests.factories import SessionFactory, demo_dataset, member


def nothing_written() -> bool:
    return not (ApprovalRequest.objects.exists() or Session.objects.exists() or Message.objects.exists())


def test_analyze_answers_202_and_records_a_generating_request(
    as_user, analyst, team, django_capture_on_commit_callbacks
):
    dataset = demo_dataset(team)
    with django_capture_on_commit_callbacks() as callbacks:
        response = as_user(analyst).post(
            "/api/analyze", {"query": "Load sales.csv and plot monthly revenue by region"}, format="json"
        )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "generating"
    request = ApprovalRequest.objects.get(pk=body["requestId"])
    assert str(request.session_id) == body["sessionId"]
    assert (request.user, request.team) == (analyst, team)
    assert list(request.datasets.all()) == [dataset]
    assert len(callbacks) == 1  # the generate task, enqueued only once the row is committed
    assert (
        AuditEvent.objects.filter(action="request.created", actor=analyst, target_id=str(request.pk)).count()
        == 1
    )


def test_analyze_ignores_user_and_team_ids_in_the_body_and_headers(as_user, analyst, other_team):
    victim = member(other_team)
    response = as_user(analyst).post(
        "/api/analyze",
        {"query": "count rows", "userId": victim.pk, "teamId": str(other_team.pk)},
        format="json",
        HTTP_X_USER_ID=str(victim.pk),
        HTTP_X_TEAM_ID=str(other_team.pk),
    )
    assert response.status_code == 202
    request = ApprovalRequest.objects.get()
    assert request.user == analyst
    assert request.team == analyst.memberships.get().team


def test_follow_up_question_joins_the_existing_session(as_user, analyst, team):
    first = as_user(analyst).post("/api/analyze", {"query": "total revenue by region"}, format="json").json()
    second = as_user(analyst).post(
        "/api/analyze", {"query": "now split that by product", "sessionId": first["sessionId"]}, format="json"
    )
    assert second.status_code == 202
    assert second.json()["sessionId"] == first["sessionId"]
    assert Session.objects.count() == 1


def test_analyze_without_token_answers_401(client, db):
    response = client.post("/api/analyze", {"query": "count rows"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_malformed_json_answers_400_and_writes_nothing(as_user, analyst):
    response = as_user(analyst).post("/api/analyze", '{"query": "oops"', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert nothing_written()


@pytest.mark.parametrize(
    "payload", [{}, {"query": ""}, {"query": "   "}, {"query": "x" * 20_000}, {"query": 5}]
)
def test_missing_empty_or_oversized_query_answers_400_and_writes_nothing(as_user, analyst, payload):
    response = as_user(analyst).post("/api/analyze", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "query" in error["fields"]
    assert nothing_written()


def test_another_teams_session_answers_404_and_writes_nothing(as_user, analyst, other_team):
    foreign = SessionFactory(team=other_team)
    response = as_user(analyst).post(
        "/api/analyze", {"query": "count", "sessionId": str(foreign.pk)}, format="json"
    )
    assert response.status_code == 404
    assert not ApprovalRequest.objects.exists()


def test_another_teams_dataset_answers_404_and_writes_nothing(as_user, analyst, other_team):
    foreign = demo_dataset(other_team, rows=10)
    response = as_user(analyst).post(
        "/api/analyze", {"query": "count", "datasetIds": [str(foreign.pk)]}, format="json"
    )
    assert response.status_code == 404
    assert nothing_written()


def test_auditor_cannot_ask_questions(as_user, auditor):
    response = as_user(auditor).post("/api/analyze", {"query": "count rows"}, format="json")
    assert response.status_code == 403
    assert nothing_written()


def test_session_list_shows_only_my_sessions(as_user, analyst, team, django_assert_max_num_queries):
    SessionFactory(user=analyst, team=team)
    SessionFactory(team=team)  # a teammate's
    client = as_user(analyst)
    with django_assert_max_num_queries(3):  # token, count, page
        response = client.get("/api/sessions")
    assert response.status_code == 200
    assert [s["userId"] for s in response.json()["results"]] == [analyst.pk]


def test_session_detail_includes_messages_in_order(as_user, analyst):
    created = as_user(analyst).post("/api/analyze", {"query": "describe the data"}, format="json").json()
    response = as_user(analyst).get(f"/api/sessions/{created['sessionId']}")
    assert response.status_code == 200
    body = response.json()
    assert [m["content"] for m in body["messages"]] == ["describe the data"]
    assert body["requests"][0]["requestId"] == created["requestId"]


def test_someone_elses_session_answers_404(as_user, analyst, team):
    theirs = SessionFactory(team=team)
    assert as_user(analyst).get(f"/api/sessions/{theirs.pk}").status_code == 404


def test_analyze_is_rate_limited_per_user(as_user, analyst, settings, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"analyze": "2/min"})
    client = as_user(analyst)
    responses = [client.post("/api/analyze", {"query": "count rows"}, format="json") for _ in range(3)]
    assert [r.status_code for r in responses] == [202, 202, 429]
    assert responses[2].json()["error"]["code"] == "rate_limited"
    assert ApprovalRequest.objects.count() == 2


def test_analyze_costs_a_fixed_number_of_queries(as_user, analyst, team, django_assert_max_num_queries):
    demo_dataset(team)
    client = as_user(analyst)
    # token; in the transaction (a savepoint in tests): team, session, audit, datasets, two prices
    # (generation, sandbox), request, its datasets, the budget reservation (in a savepoint; on SQLite the
    # budgets are read first), message, audit; then the budget warning (budgets with their periods)
    with django_assert_max_num_queries(18):
        response = client.post("/api/analyze", {"query": "Load sales.csv and count rows"}, format="json")
    assert response.status_code == 202
    assert ApprovalRequest.objects.get().datasets.count() == 1
