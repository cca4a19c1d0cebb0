"""The analysts' pages: who may see what, what each page shows, and the downloads."""

import base64
import re

import nbformat
import pytest
from django.test import Client

from analysis.models import Execution
from approvals.models import ApprovalRequest
from billing.models import CostSpan, Membership
from tests.factories import ApprovalRequestFactory, TeamFactory, demo_dataset, member

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def logged_in(user) -> Client:
    client = Client(headers={"HX-Request": "true"})  # as htmx asks; plain page views ignore it
    client.force_login(type(user).objects.get(pk=user.pk))  # the factory's password is not saved
    return client


@pytest.fixture
def own_request(analyst, team):
    return ApprovalRequestFactory(user=analyst, team=team, query="Plot revenue by region")


@pytest.fixture
def foreign_request(other_team):
    return ApprovalRequestFactory(user=member(other_team), team=other_team, query="their secret question")


def page_urls(request: ApprovalRequest, dataset_id) -> list[str]:
    s, r = request.session_id, request.pk
    return [
        f"/sessions/{s}/",
        f"/sessions/{s}/requests/{r}/",
        f"/sessions/{s}/notebook.ipynb",
        f"/sessions/{s}/script.py",
        f"/datasets/{dataset_id}/",
    ]


def test_every_page_sends_an_anonymous_visitor_to_the_login_page(own_request, team):
    dataset = demo_dataset(team, rows=5)
    for url in ["/", "/ask/", "/datasets/", *page_urls(own_request, dataset.pk)]:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"/login/?next={url}"), url
    ran = Client().post(f"/sessions/{own_request.session_id}/requests/{own_request.pk}/run/")
    assert ran.status_code == 302 and ran["Location"].startswith("/login/")


def test_another_teams_session_request_and_dataset_are_404_everywhere(analyst, foreign_request, other_team):
    dataset = demo_dataset(other_team, rows=5)
    client = logged_in(analyst)
    for url in page_urls(foreign_request, dataset.pk):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"their secret question" not in response.content
        assert b"Page not found" in response.content
    run = client.post(f"/sessions/{foreign_request.session_id}/requests/{foreign_request.pk}/run/")
    assert run.status_code == 404


def test_a_request_of_another_session_is_not_reachable_through_my_session_url(analyst, team, own_request):
    mine_elsewhere = ApprovalRequestFactory(user=analyst, team=team)
    response = logged_in(analyst).get(f"/sessions/{own_request.session_id}/requests/{mine_elsewhere.pk}/")
    assert response.status_code == 404


def test_a_teammates_session_is_404_for_another_analyst_of_the_same_team(team, own_request):
    colleague = member(team, Membership.Role.ANALYST)
    assert logged_in(colleague).get(f"/sessions/{own_request.session_id}/").status_code == 404


def test_login_page_logs_an_analyst_in_and_home_lists_sessions_pending_and_spend(analyst, team, own_request):
    analyst.set_password("s3cret-pass")
    analyst.save()
    CostSpan.objects.create(
        provider="offline", tenant=team, user=analyst, feature="generation", cost_usd="0.25"
    )
    client = Client()
    login_page = client.get("/login/")
    assert b'<label for="id_username">' in login_page.content and b"csrfmiddlewaretoken" in login_page.content
    response = client.post("/login/", {"username": "ann", "password": "s3cret-pass"}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    body = response.content.decode()
    assert "Plot revenue by region" in body
    assert "Waiting for review" in body
    assert "$0.25" in body


def test_asking_a_question_creates_a_request_through_the_service_and_opens_its_session(analyst, team):
    dataset = demo_dataset(team, rows=5)
    client = logged_in(analyst)
    form = client.get("/ask/").content.decode()
    assert "<legend>Datasets to use</legend>" in form  # the checkboxes' label is the fieldset's legend
    assert '<label for="id_datasets_0">sales.csv</label>' in form and "checked" not in form
    preselected = client.get(f"/ask/?dataset={dataset.pk}").content.decode()
    assert f'value="{dataset.pk}" id="id_datasets_0" checked' in preselected  # asked from its page
    nothing = client.post("/ask/", {"query": "Plot monthly revenue"})
    assert nothing.status_code == 400 and b"Choose at least one dataset to ask about." in nothing.content
    assert not ApprovalRequest.objects.exists()
    response = client.post("/ask/", {"query": "Plot monthly revenue", "datasets": [str(dataset.pk)]})
    request = ApprovalRequest.objects.get(user=analyst)
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{request.session_id}/#req-{request.pk}"
    assert request.status == ApprovalRequest.Status.GENERATING
    assert list(request.datasets.all()) == [dataset]


def test_a_question_about_another_teams_dataset_is_refused_and_makes_no_request(analyst, team):
    demo_dataset(team, rows=5)
    other = demo_dataset(TeamFactory(), rows=5)  # another team's: not offered, and not accepted
    response = logged_in(analyst).post("/ask/", {"query": "anything", "datasets": [str(other.pk)]})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    assert not ApprovalRequest.objects.exists()


def test_a_follow_up_goes_into_the_same_session_and_the_page_opens_at_it(analyst, team, own_request):
    dataset = demo_dataset(team, rows=5)
    own_request.datasets.set([dataset])
    url = f"/sessions/{own_request.session_id}/"
    form = logged_in(analyst).get(url).content.decode()
    assert f'value="{dataset.pk}"' in form and "checked" in form  # the session's dataset, ticked
    response = logged_in(analyst).post(
        url, {"query": "Now only for the north", "datasets": [str(dataset.pk)]}
    )
    follow_up = ApprovalRequest.objects.exclude(pk=own_request.pk).get()
    assert response.status_code == 302 and response["Location"] == f"{url}#req-{follow_up.pk}"
    assert follow_up.session_id == own_request.session_id
    assert list(follow_up.datasets.all()) == [dataset]


def test_a_waiting_request_polls_and_shows_highlighted_code(analyst, own_request):
    response = logged_in(analyst).get(f"/sessions/{own_request.session_id}/")
    body = response.content.decode()
    assert "Waiting for review" in body
    assert 'hx-trigger="every 10s"' in body  # a person reviews: slow polling
    assert f'hx-get="/sessions/{own_request.session_id}/requests/{own_request.pk}/?seen=' in body
    assert '<span class="nb">print</span>' in body  # pygments
    assert 'aria-current="step"' in body


def test_a_finished_request_stops_polling_and_shows_chart_stdout_and_decision(analyst, reviewer, own_request):
    finish(own_request, reviewer, stdout="total 42\n", results=[{"png": PNG}])
    fragment = logged_in(analyst).get(f"/sessions/{own_request.session_id}/requests/{own_request.pk}/")
    body = fragment.content.decode()
    assert fragment.status_code == 200
    assert "hx-trigger" not in body
    assert f'src="data:image/png;base64,{PNG}"' in body
    assert "total 42" in body
    assert "Approved by rita" in body


def test_a_failed_run_is_explained_in_plain_words(analyst, reviewer, own_request):
    error = {"name": "KeyError", "value": "'Revenue'", "traceback": "Traceback ..."}
    finish(own_request, reviewer, status=Execution.Status.FAILED, error=error)
    body = logged_in(analyst).get(f"/sessions/{own_request.session_id}/").content.decode()
    assert "a column or key that the data does not have" in body
    assert "KeyError: &#x27;Revenue&#x27;" in body


def test_html_results_from_the_analysed_code_are_shown_as_text_not_markup(analyst, reviewer, own_request):
    finish(own_request, reviewer, results=[{"html": "<script>alert(1)</script>", "text": "<b>table</b>"}])
    body = logged_in(analyst).get(f"/sessions/{own_request.session_id}/").content.decode()
    assert "<script>alert(1)</script>" not in body and "<b>table</b>" not in body
    assert "&lt;b&gt;table&lt;/b&gt;" in body


def test_opening_a_status_fragment_without_htmx_shows_the_whole_session(analyst, own_request):
    client = Client()
    client.force_login(type(analyst).objects.get(pk=analyst.pk))
    response = client.get(f"/sessions/{own_request.session_id}/requests/{own_request.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{own_request.session_id}/#req-{own_request.pk}"


def test_a_rejected_request_shows_the_reviewers_reason(analyst, reviewer, own_request):
    ApprovalRequest.objects.filter(pk=own_request.pk).update(
        status="rejected", reviewer=reviewer, rejection_reason="Please drop the customer names."
    )
    body = logged_in(analyst).get(f"/sessions/{own_request.session_id}/").content.decode()
    assert "Rejected by rita" in body and "Please drop the customer names." in body
    assert "Ask again with this feedback" in body
    assert 'hx-trigger="every 10s"' in body  # watching for a new version the reviewer may ask for


def test_the_run_button_starts_the_one_execution_of_an_approved_request(analyst, reviewer, own_request):
    from approvals.services import approval_request_approve

    approval_request_approve(request=own_request, reviewer=reviewer)
    client = logged_in(analyst)
    assert b"Run the approved code" in client.get(f"/sessions/{own_request.session_id}/").content
    url = f"/sessions/{own_request.session_id}/requests/{own_request.pk}/run/"
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 302
    assert Execution.objects.filter(request=own_request).count() == 1
    own_request.refresh_from_db()
    assert own_request.status == ApprovalRequest.Status.QUEUED


def test_the_notebook_download_is_valid_nbformat_with_code_and_outputs(analyst, reviewer, own_request):
    finish(own_request, reviewer, stdout="total 42\n", results=[{"png": PNG}])
    response = logged_in(analyst).get(f"/sessions/{own_request.session_id}/notebook.ipynb")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"] and ".ipynb" in response["Content-Disposition"]
    notebook = nbformat.reads(response.content.decode(), as_version=4)
    nbformat.validate(notebook)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells[0].source == own_request.code
    kinds = {o.output_type for o in code_cells[0].outputs}
    assert kinds == {"stream", "display_data"}
    assert code_cells[0].outputs[1].data["image/png"] == PNG


def test_the_python_download_holds_every_questions_code(analyst, team, own_request):
    ApprovalRequestFactory(user=analyst, team=team, session=own_request.session, code="print(2)\n")
    response = logged_in(analyst).get(f"/sessions/{own_request.session_id}/script.py")
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/x-python")
    assert own_request.code in text and "print(2)" in text
    compile(text, "session.py", "exec")


def test_posting_without_a_csrf_token_is_refused_with_the_friendly_403_page(analyst):
    client = Client(enforce_csrf_checks=True)
    client.force_login(type(analyst).objects.get(pk=analyst.pk))
    response = client.post("/ask/", {"query": "Plot revenue"})
    assert response.status_code == 403
    assert not ApprovalRequest.objects.exists()


def test_unknown_pages_are_friendly_html_and_unknown_api_paths_stay_json(analyst):
    client = logged_in(analyst)
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and b"Page not found" in page.content
    api = client.get("/api/no-such-endpoint")
    assert api.status_code == 404
    assert api.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_the_admin_header_counts_requests_waiting_for_this_reviewer(
    reviewer, team, own_request, foreign_request
):
    reviewer.is_staff = True
    reviewer.save()
    ApprovalRequestFactory(user=reviewer, team=team)  # their own: they cannot decide it
    body = logged_in(reviewer).get("/admin/").content.decode()
    assert 'class="sg-pending-count">1<' in body


def finish(request, reviewer, *, status=Execution.Status.SUCCEEDED, stdout="", results=(), error=None):
    """Put a request in a final state with an execution, as the worker would leave it."""
    ApprovalRequest.objects.filter(pk=request.pk).update(
        status=status, reviewer=reviewer, approved_code_sha256=request.code_sha256
    )
    Execution.objects.create(
        request=request,
        status=status,
        code_sha256=request.code_sha256,
        stdout=stdout,
        results=list(results),
        error=error,
        duration_ms=12,
    )
    request.refresh_from_db()


def test_home_budget_meter_shows_spent_reserved_limit_and_reset_date(analyst, team):
    from decimal import Decimal

    from billing.models import Budget
    from billing.services import budget_reserve

    Budget.objects.create(
        scope=Budget.Scope.TEAM, team=team, period=Budget.Period.MONTHLY, limit_usd=Decimal("20")
    )
    budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("1.50"))
    body = logged_in(analyst).get("/").content.decode()
    assert "Team acme's monthly budget" in body
    assert "Spent $0.00, reserved $1.50 of $20.00; resets" in body
    assert '<meter id="budget-' in body


def test_an_unchanged_status_answers_204_so_nothing_on_the_page_moves(analyst, own_request):
    client = logged_in(analyst)
    page = client.get(f"/sessions/{own_request.session_id}/").content.decode()
    poll = re.search(r'hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "code=1" in poll and "results=0" in poll and "next=0" in poll

    unchanged = client.get(poll)

    assert unchanged.status_code == 204 and unchanged.content == b""


def test_a_changed_status_swaps_the_live_part_and_sends_code_results_and_next_version_once(
    analyst, reviewer, team, own_request
):
    from approvals.services import approval_request_edit

    client = logged_in(analyst)
    page = client.get(f"/sessions/{own_request.session_id}/").content.decode()
    poll = re.search(r'hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    edited = approval_request_edit(request=own_request, reviewer=reviewer, code="print('edited')\n")

    update = client.get(poll).content.decode()

    assert update.lstrip().startswith(f'<div class="live" id="live-{own_request.pk}"')
    assert "Replaced by" in update and f'href="#req-{edited.pk}"' in update
    assert f'<div hx-swap-oob="afterend:#req-{own_request.pk}">' in update  # version 2, after version 1
    assert f'id="req-{edited.pk}"' in update and "What changed from version 1" in update
    assert f'id="code-{own_request.pk}"' not in update  # the page has it: the reader's panel stays as is
    assert 'hx-trigger="every' not in update.split(f'id="req-{edited.pk}"')[0]  # version 1 stops polling
    finish(edited, reviewer, stdout="done\n", results=[{"png": PNG}])
    next_poll = re.search(r'hx-get="([^"]+)"', update.split(f'id="req-{edited.pk}"')[1]).group(1)
    done = client.get(next_poll.replace("&amp;", "&")).content.decode()
    assert f'<div id="results-{edited.pk}" class="results-area" hx-swap-oob="true">' in done
    assert f'src="data:image/png;base64,{PNG}"' in done
