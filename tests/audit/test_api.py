import pytest

from audit.models import AuditEvent
from audit.services import audit_log
from tests.factories import ApprovalRequestFactory, TeamFactory, UserFactory

Action = AuditEvent.Action


@pytest.fixture
def story(team, analyst, reviewer):
    """Two requests of the team, and an event of another team the auditor must never see."""
    first = ApprovalRequestFactory(user=analyst, team=team)
    second = ApprovalRequestFactory(user=analyst, team=team)
    audit_log(action=Action.REQUEST_CREATED, actor=analyst, team=team, target=first)
    audit_log(action=Action.REQUEST_APPROVED, actor=reviewer, team=team, target=first)
    audit_log(action=Action.REQUEST_CREATED, actor=analyst, team=team, target=second)
    audit_log(action=Action.REQUEST_CREATED, actor=UserFactory(), team=TeamFactory(slug="globex"))
    return first, second


def get(client, **params):
    return client.get("/api/audit", params)


def test_an_auditor_reads_the_teams_events_newest_first_in_camel_case(as_user, auditor, story):
    response = get(as_user(auditor), action="request.created")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {"count", "next", "previous", "results"} <= body.keys()
    newest = body["results"][0]
    assert newest["requestId"] == str(story[1].pk)
    assert newest["actor"] == "ann"
    expected = {
        "sequence",
        "createdAt",
        "actorId",
        "teamId",
        "targetType",
        "ipAddress",
        "userAgent",
        "prevHash",
    }
    assert expected <= newest.keys()


def test_readers_always_see_a_complete_chain(as_user, auditor, story):
    results = get(as_user(auditor)).json()["results"]
    assert all(len(event["hash"]) == 64 and event["position"] for event in results)


def test_an_auditor_does_not_see_other_teams_events(as_user, auditor, story):
    results = get(as_user(auditor), limit=200).json()["results"]
    assert {event["teamId"] for event in results} <= {str(auditor.memberships.get().team_id), None}
    assert "globex" not in str(results)


def test_an_auditor_filters_by_request_actor_and_time(as_user, auditor, reviewer, story):
    client = as_user(auditor)
    by_request = get(client, requestId=str(story[0].pk)).json()
    assert [e["action"] for e in by_request["results"]] == ["request.approved", "request.created"]
    by_actor = get(client, actor="rita").json()
    assert [e["action"] for e in by_actor["results"]] == ["request.approved"]
    created = AuditEvent.objects.get(action="request.approved").created_at.isoformat()
    assert get(client, since=created, action="request.approved").json()["count"] == 1
    assert get(client, until=created, action="request.approved").json()["count"] == 0


def test_logins_of_team_members_are_visible_to_the_auditor(as_user, auditor, analyst):
    audit_log(action=Action.LOGIN_SUCCEEDED, actor=analyst, target=analyst)
    assert get(as_user(auditor), action="auth.login").json()["count"] == 1


def test_the_list_is_paginated(as_user, auditor, story):
    body = get(as_user(auditor), limit=2).json()
    assert len(body["results"]) == 2
    assert "offset=2" in body["next"]


@pytest.mark.parametrize("role", ["analyst", "reviewer"])
def test_analysts_and_reviewers_get_403(as_user, request, story, role):
    response = get(as_user(request.getfixturevalue(role)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_an_auditor"


def test_a_bad_filter_answers_400_in_the_error_shape(as_user, auditor):
    response = get(as_user(auditor), requestId="nope")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_the_list_costs_a_fixed_number_of_queries(as_user, auditor, story, django_assert_max_num_queries):
    client = as_user(auditor)
    get(client)  # chains what is pending, so both runs below do the same work
    with django_assert_max_num_queries(12):
        assert get(client, limit=50).status_code == 200
