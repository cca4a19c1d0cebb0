"""The session page's live status: answered from the request's version before anything is built, with an
ETag a browser's `If-None-Match` revalidates (304); and the page's queries do not grow with its turns."""

import re

import pytest
from django.db import connection

from analysis.models import Execution
from analysis.services.execution import execution_run, execution_start
from analysis.services.sessions import session_archive
from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, approval_request_reject
from billing.models import Membership
from tests.factories import ApprovalRequestFactory, member
from tests.web.test_pages import logged_in


@pytest.fixture
def own_request(analyst, team):
    return ApprovalRequestFactory(user=analyst, team=team, query="Plot revenue by region")


def poll_url(client, request: ApprovalRequest) -> str:
    page = client.get(f"/sessions/{request.session_id}/").content.decode()
    turn = page.split(f'id="live-{request.pk}"')[1]
    return re.search(r'hx-get="([^"]+)"', turn).group(1).replace("&amp;", "&")


def test_an_unchanged_status_answers_204_from_one_query_of_its_version(
    analyst, own_request, django_assert_num_queries
):
    client = logged_in(analyst)
    poll = poll_url(client, own_request)
    with django_assert_num_queries(3):  # the login session, its user, the request's version
        unchanged = client.get(poll)
    assert unchanged.status_code == 204 and unchanged.has_header("ETag")


def test_a_current_if_none_match_gets_304_and_a_stale_one_the_new_status(analyst, reviewer, own_request):
    client = logged_in(analyst)
    poll = poll_url(client, own_request)
    etag = client.get(poll)["ETag"]

    assert client.get(poll, HTTP_IF_NONE_MATCH=etag).status_code == 304
    approval_request_reject(request=own_request, reviewer=reviewer, reason="Per month, please.")
    changed = client.get(poll, HTTP_IF_NONE_MATCH=etag)

    assert changed.status_code == 200 and changed["ETag"] != etag
    assert "The reviewer's reason:</strong> Per month, please." in changed.content.decode()


def test_the_status_changes_when_only_the_run_moves(analyst, reviewer, team, own_request, prices):
    """A run waits for its team's only slot, then gets it: the request's row stays as it was."""
    team.max_active_runs = 1
    team.save()
    first = ApprovalRequestFactory(user=analyst, team=team, session=own_request.session)
    started = []
    for request in (first, own_request):
        approval_request_approve(request=request, reviewer=reviewer)
        started.append(execution_start(request=request, user=analyst)[0])
    client = logged_in(analyst)
    poll = poll_url(client, own_request)
    assert started[1].status == Execution.Status.WAITING
    assert client.get(poll).status_code == 204

    execution_run(execution_id=started[0].pk)  # its slot goes to the waiting run

    started[1].refresh_from_db()
    assert started[1].status == Execution.Status.QUEUED
    assert client.get(poll).status_code == 200


def test_a_session_archived_elsewhere_takes_ask_again_off_its_rejected_turn_at_the_next_poll(
    analyst, reviewer, own_request
):
    approval_request_reject(request=own_request, reviewer=reviewer, reason="Per month, please.")
    client = logged_in(analyst)
    poll = poll_url(client, own_request)  # the page offers "Ask again" and polls for a version made elsewhere
    assert client.get(poll).status_code == 204

    session_archive(session=own_request.session, user=analyst)  # in another tab
    closed = client.get(poll)

    assert closed.status_code == 200
    body = closed.content.decode()
    assert "Per month, please." in body and "Ask again with this feedback" not in body
    assert "hx-trigger" not in body  # nothing more can change: the poll stops


def test_a_teammates_request_status_is_a_404_even_with_an_etag(analyst, team, own_request):
    etag = logged_in(analyst).get(poll_url(logged_in(analyst), own_request))["ETag"]
    teammate = logged_in(member(team, Membership.Role.ANALYST, user__username="tom"))
    url = f"/sessions/{own_request.session_id}/requests/{own_request.pk}/?seen=x"
    assert teammate.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404


def test_the_session_page_costs_the_same_queries_for_one_turn_or_many(
    analyst, reviewer, team, own_request, django_assert_num_queries
):
    client = logged_in(analyst)
    url = f"/sessions/{own_request.session_id}/"
    # the login session and its user; the session; its requests with their reviewer, run, previous version
    # and editor; their datasets; their next versions; their versions; the follow-up form's datasets (the
    # runs' artifacts when a run exists)
    with django_assert_num_queries(QUERIES_OF_THE_SESSION_PAGE):
        assert client.get(url).status_code == 200

    session = own_request.session
    rejected = ApprovalRequestFactory(user=analyst, team=team, session=session)
    approval_request_reject(request=rejected, reviewer=reviewer, reason="Per month.")
    approved = ApprovalRequestFactory(user=analyst, team=team, session=session)
    approval_request_approve(request=approved, reviewer=reviewer)
    with django_assert_num_queries(QUERIES_OF_THE_SESSION_PAGE):
        assert client.get(url).status_code == 200


QUERIES_OF_THE_SESSION_PAGE = 8


def test_a_decision_made_while_the_page_is_read_is_on_the_page_or_brought_by_its_next_poll(
    analyst, reviewer, own_request
):
    """A reviewer decides between the page's first and later reads of its requests: the page may show either
    state, but never one older than the version its poll sends back (it would then answer 204 for good)."""
    client = logged_in(analyst)
    decided = []

    def decide_after_the_first_read_of_requests(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not decided and sql.lstrip().startswith("SELECT") and '"approvals_approvalrequest"' in sql:
            decided.append(sql)
            approval_request_reject(request=own_request, reviewer=reviewer, reason="Per month, please.")
        return result

    with connection.execute_wrapper(decide_after_the_first_read_of_requests):
        page = client.get(f"/sessions/{own_request.session_id}/").content.decode()
    assert decided
    turn = page.split(f'id="live-{own_request.pk}"')[1]
    poll = re.search(r'hx-get="([^"]+)"', turn).group(1).replace("&amp;", "&")
    answer = client.get(poll)

    shown = page + (answer.content.decode() if answer.status_code == 200 else "")
    assert "Per month, please." in shown
