"""Every role's journey in a real browser (Debian's chromium), at a desktop's 1366×900 and a phone's 390×844.

Real parts throughout: the live server, the real database, a real Celery worker and the local sandbox where
a journey needs code written or run. Each page visited is screenshotted to tests-artifacts/browser/ and
checked by axe-core; any Content-Security-Policy violation fails the journey (tests/browser/support.py).
Requests a journey does not walk through itself are made by the same services the pages call.
"""

from __future__ import annotations

import re

import nbformat
from playwright.sync_api import expect

from analysis.demo import sales_csv
from analysis.models import Dataset
from analysis.services.asking import analysis_submit
from analysis.services.datasets import dataset_create
from analysis.services.generation import request_generate_code
from approvals.models import ApprovalRequest
from approvals.services import (
    approval_request_approve,
    approval_request_generation_succeed,
    approval_request_reject,
)
from billing.models import CostSpan
from tests.browser.support import Journey, chromium, fits_the_width, in_thread, in_view, worker_log

Status = ApprovalRequest.Status
QUEUE = "/admin/approvals/approvalrequest/?waiting_for=you"
HIGH_RISK_CODE = (
    "import pandas as pd\nimport sklearn\n\ndf = pd.read_csv('/data/sales.csv')\n"
    "print(df.groupby('region')['revenue'].sum())\n"
)


def journey(browser, live_server, name: str, viewport: str) -> Journey:
    return Journey(browser=browser, name=name, viewport=viewport, url=live_server.url)


def asked(user, team, query: str) -> ApprovalRequest:
    """A question asked and its code written, by the services the ask page and the worker call."""
    dataset = Dataset.objects.filter(team=team, name="sales.csv").first() or dataset_create(
        team=team, name="sales.csv", content=sales_csv(rows=200)
    )
    request = analysis_submit(user=user, query=query, dataset_ids=[str(dataset.pk)])
    return request_generate_code(request_id=request.pk)


def with_worker_log(worker, body) -> None:
    try:
        body()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{worker_log(worker)}") from None


# --- the analyst -------------------------------------------------------------------------------------


def test_analyst_uploads_asks_runs_reads_the_table_and_chart_follows_up_and_exports(
    live_server, celery_worker_process, people, viewport, settings, tmp_path
):
    settings.SANDGATE_EXECUTE_ON_APPROVAL = False  # the analyst presses Run
    with chromium() as browser:
        trip = journey(browser, live_server, "analyst", viewport)
        with_worker_log(celery_worker_process, lambda: analyst_journey(trip, people, tmp_path))
    trip.assert_no_csp_violation()


def analyst_journey(trip: Journey, people: dict, tmp_path) -> None:
    page = trip.context().new_page()
    response = page.goto(f"{trip.url}/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    trip.check(page, "login")
    trip.log_in(page, "ann")
    expect(page.get_by_role("heading", name="Hello, ann")).to_be_visible()
    assert page.url == f"{trip.url}/"
    trip.check(page, "home")
    page.keyboard.press("Tab")  # keyboard users meet the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    data = tmp_path / "shop-sales.csv"
    data.write_bytes(sales_csv(rows=150, seed=7))
    page.get_by_role("link", name="Datasets").click()
    trip.check(page, "datasets")
    page.get_by_label("Data file").set_input_files(str(data))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Uploaded shop-sales.csv: 150 rows.")).to_be_visible()
    trip.check(page, "dataset-preview")

    page.get_by_role("link", name="Ask a question about it").click()
    expect(page.get_by_role("checkbox", name="shop-sales.csv")).to_be_checked()  # asked from its page
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_text("This field is required.")).to_be_visible()  # no question: nothing asked
    page.get_by_role("checkbox", name="shop-sales.csv").uncheck()
    page.get_by_label("Your question").fill("Total revenue by region as a bar chart")
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_text("Choose at least one dataset to ask about.")).to_be_visible()
    assert not in_thread(ApprovalRequest.objects.exists)
    trip.check(page, "ask-without-a-dataset")
    page.get_by_role("checkbox", name="shop-sales.csv").check()
    page.get_by_role("button", name="Ask").click()

    turn = page.locator("article.turn").first
    expect(turn.locator(".status")).to_contain_text("Waiting for review")
    expect(turn.locator(".highlight")).to_contain_text("/data/shop-sales.csv")
    request = in_thread(ApprovalRequest.objects.get)
    # The plan, in plain words, comes first: above the status and the code (it arrived with the live update).
    plan = turn.locator("section.plan")
    expect(plan).to_contain_text("Adds up revenue for each region in shop-sales.csv")
    assert request.plan and "`revenue`" in request.plan
    plan_top = plan.evaluate("e => e.getBoundingClientRect().top")
    assert plan_top < turn.locator(".status").evaluate("e => e.getBoundingClientRect().top")
    assert plan_top < turn.locator("details.code").evaluate("e => e.getBoundingClientRect().top")
    assert page.url.endswith(f"#req-{request.pk}")
    trip.check(page, "waiting-for-review")

    # The reader folds the code away and selects the question; the approval arrives while they read.
    turn.locator("details.code > summary").click()
    page.evaluate(
        """() => { window.__notReloaded = true;
        window.getSelection().selectAllChildren(document.querySelector('article.turn h2')); }"""
    )
    in_thread(approval_request_approve, request=request, reviewer=people["rita"])
    expect(turn.locator(".status")).to_contain_text("Approved — ready to run.")
    assert page.evaluate("window.__notReloaded") is True
    assert turn.locator("details.code").get_attribute("open") is None  # still folded
    assert page.evaluate("window.getSelection().toString()") == "Total revenue by region as a bar chart"
    assert "Approved by rita" in turn.inner_text()
    trip.check(page, "approved")

    turn.get_by_role("button", name="Run the approved code").click()
    expect(turn.locator(".status")).to_contain_text("Done.")
    table = turn.locator("table.result-table")
    expect(table).to_be_visible()
    expect(turn.locator(".answer")).to_contain_text(re.compile("highest", re.I))  # its last printed line
    assert turn.locator("table.result-table").count() == 1  # the DataFrame once, as a table
    number = table.locator("td.num").first
    assert number.evaluate("e => getComputedStyle(e).textAlign") == "right"
    chart = turn.locator("img.chart").first
    expect(chart).to_be_visible()
    assert chart.get_attribute("alt").startswith("Chart")
    results_width = turn.locator("section.results").evaluate("e => e.clientWidth")
    assert chart.evaluate("e => e.getBoundingClientRect().width") >= results_width - 4  # full width
    values = table.locator("tbody tr td.num").all_inner_texts()
    table.get_by_role("button", name=re.compile("Sort by revenue")).click()
    ascending = table.locator("tbody tr td.num").all_inner_texts()
    as_numbers = [float(v.replace(",", "")) for v in ascending]
    assert as_numbers == sorted(as_numbers) and sorted(values) == sorted(ascending)
    assert fits_the_width(page)  # on a phone the table scrolls inside its box
    turn.locator(".answer").evaluate("e => e.scrollIntoView({block: 'start'})")
    trip.check(page, "table-and-chart")

    page.get_by_label("Ask a follow-up").fill("Plot monthly revenue by region")
    expect(page.locator("#follow-up").get_by_role("checkbox", name="shop-sales.csv")).to_be_checked()
    page.locator("#follow-up").get_by_role("button", name="Ask").click()
    follow_up = in_thread(lambda: ApprovalRequest.objects.exclude(pk=request.pk).get())
    new_turn = page.locator(f"#req-{follow_up.pk}")
    assert page.url.endswith(f"#req-{follow_up.pk}")
    expect(new_turn.locator(".status")).to_contain_text("Waiting for review")
    assert in_view(page, new_turn.locator("h2"))  # the page moved to the new question
    trip.check(page, "follow-up")
    in_thread(approval_request_approve, request=follow_up, reviewer=people["rita"])
    new_turn.get_by_role("button", name="Run the approved code").click()
    expect(new_turn.locator(".status")).to_contain_text("Done.")
    monthly = new_turn.locator("table.result-table")
    shown = monthly.locator("tbody tr:visible")
    expect(shown).to_have_count(10)  # the first rows, then "show all"
    new_turn.get_by_role("button", name=re.compile(r"Show all \d+ rows")).click()
    assert shown.count() == monthly.locator("tbody tr").count() > 10
    trip.check(page, "show-all-rows")

    with page.expect_download() as download:
        page.get_by_role("link", name="as notebook (.ipynb)").click()
    saved = download.value.path()
    notebook = nbformat.read(str(saved), as_version=4)
    nbformat.validate(notebook)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert "/data/shop-sales.csv" in code_cells[0].source
    assert any("image/png" in o.get("data", {}) for o in code_cells[0].outputs)

    # A question the data cannot answer: no code, nothing for a reviewer; one click asks an example instead.
    asked_before = set(in_thread(lambda: list(ApprovalRequest.objects.values_list("pk", flat=True))))
    page.get_by_label("Ask a follow-up").fill("What will the weather be in Paris tomorrow?")
    page.locator("#follow-up").get_by_role("button", name="Ask").click()
    unclear = in_thread(lambda: ApprovalRequest.objects.exclude(pk__in=asked_before).get())
    unclear_turn = page.locator(f"#req-{unclear.pk}")
    expect(unclear_turn.locator(".status")).to_contain_text("Needs clarification: no code was written.")
    examples = unclear_turn.locator(".clarification .examples button")
    expect(examples).to_have_count(3)
    assert unclear_turn.locator("details.code").count() == 0
    trip.check(page, "needs-clarification")
    example = examples.first.inner_text()
    examples.first.click()
    answered = in_thread(lambda: ApprovalRequest.objects.get(query=example, session=unclear.session))
    answered_turn = page.locator(f"#req-{answered.pk}")
    expect(answered_turn.locator(".status")).to_contain_text("Waiting for review")  # on the same data
    expect(answered_turn.locator("section.plan")).to_contain_text("shop-sales.csv")


# --- the reviewer ------------------------------------------------------------------------------------


def test_reviewer_works_the_queue_approve_reject_edit_then_the_queue_is_empty(
    live_server, people, team, viewport
):
    ann = people["ann"]
    first = asked(ann, team, "Total revenue by region")
    second = asked(ann, team, "Average units per product")
    third = asked(ann, team, "How many rows per region?")
    with chromium() as browser:
        trip = journey(browser, live_server, "reviewer", viewport)
        page = trip.context().new_page()
        trip.log_in(page, "rita")
        assert page.url == f"{trip.url}{QUEUE}"  # a reviewer lands on the queue
        expect(page.locator(".sg-pending-count")).to_have_text("3")
        trip.check(page, "queue")

        page.get_by_role("link", name="Total revenue by region").click()
        expect(page.locator("h1.sg-question")).to_have_text("Total revenue by region")
        if viewport == "desktop":  # the decision fits the first screen: question, facts, buttons, code
            assert page.evaluate("window.scrollY") == 0
            for part in (
                page.locator("h1.sg-question"),
                page.locator(".sg-plan"),
                page.get_by_role("button", name="Approve"),
                page.get_by_role("button", name="Reject with reason"),
                page.get_by_role("link", name="Edit the code"),
                page.locator("#reads-h"),
                page.locator("#cost-h"),
                page.locator("#risk-h"),
                page.locator("#line-1"),
            ):
                assert in_view(page, part), part
        assert fits_the_width(page)
        trip.check(page, "review-page")

        page.get_by_role("button", name="Approve").click()
        expect(page.locator("h1.sg-question")).to_have_text("Average units per product")  # the next one
        expect(page.locator(".messagelist")).to_contain_text("Approved “Total revenue by region”.")
        trip.check(page, "next-after-approve")

        page.get_by_label("Reason for rejecting (the analyst sees it)").fill("Show the median, not the mean.")
        page.get_by_role("button", name="Reject with reason").click()
        expect(page.locator("h1.sg-question")).to_have_text("How many rows per region?")

        page.get_by_role("link", name="Edit the code").click()
        trip.check(page, "edit")
        code = page.locator("textarea[name=code]")
        code.fill(code.input_value() + "# reviewed by rita\n")
        page.get_by_role("button", name="Save as a new version").click()
        expect(page.locator(".messagelist")).to_contain_text("Saved as version 2")
        expect(page.locator(".messagelist")).to_contain_text("Nothing else is waiting for your review.")
        expect(page.locator(".sg-empty")).to_have_text(
            "Nothing is waiting for your review."
        )  # her edit: not hers
        expect(page.locator(".sg-pending-count")).to_have_text("0")
        trip.check(page, "queue-empty")
    trip.assert_no_csp_violation()
    states = [ApprovalRequest.objects.get(pk=r.pk).status for r in (first, second, third)]
    assert states[:2] == [Status.APPROVED, Status.REJECTED] and states[2] == Status.SUPERSEDED
    assert ApprovalRequest.objects.get(pk=second.pk).rejection_reason == "Show the median, not the mean."
    edited = ApprovalRequest.objects.get(parent=third)
    assert (edited.status, edited.edited_by) == (Status.PENDING_REVIEW, people["rita"])


# --- a second reviewer completes the quorum ---------------------------------------------------------------


def test_a_second_reviewer_completes_a_high_risk_requests_quorum(live_server, people, team, viewport):
    ann = people["ann"]
    dataset = dataset_create(team=team, name="sales.csv", content=sales_csv(rows=50))
    request = analysis_submit(user=ann, query="Revenue by region with sklearn", dataset_ids=[str(dataset.pk)])
    request = approval_request_generation_succeed(
        request=request, code=HIGH_RISK_CODE, provider="offline", model="offline-rules-v1"
    )  # as a worker stores what the model wrote
    assert (request.risk_level, request.status) == ("high", Status.PENDING_REVIEW)
    with chromium() as browser:
        trip = journey(browser, live_server, "quorum", viewport)
        rita = trip.context().new_page()
        trip.log_in(rita, "rita")
        rita.get_by_role("link", name="Revenue by region with sklearn").click()
        expect(rita.locator("#risk-h + p")).to_contain_text("approvals 0 of 2")
        trip.check(rita, "first-reviewer")
        rita.get_by_role("button", name="Approve").click()
        expect(rita.locator(".messagelist")).to_contain_text("it needs another reviewer's too")
        assert in_thread(lambda: ApprovalRequest.objects.get(pk=request.pk).status) == Status.PENDING_REVIEW

        sam = trip.context().new_page()
        trip.log_in(sam, "sam")
        expect(sam.locator(".sg-pending-count")).to_have_text("1")
        sam.get_by_role("link", name="Revenue by region with sklearn").click()
        expect(sam.locator("#risk-h + p")).to_contain_text("approvals 1 of 2 (rita)")
        trip.check(sam, "second-reviewer")
        sam.get_by_role("button", name="Approve").click()
        expect(sam.locator(".messagelist")).to_contain_text("Approved “Revenue by region with sklearn”.")
        trip.check(sam, "quorum-reached")
    trip.assert_no_csp_violation()
    approved = ApprovalRequest.objects.get(pk=request.pk)
    assert approved.approved_code_sha256 == approved.code_sha256
    assert sorted(approved.votes.values_list("reviewer__username", flat=True)) == ["rita", "sam"]


# --- the analyst asks again after a rejection ------------------------------------------------------------


def test_analyst_asks_again_with_the_reviewers_feedback(
    live_server, celery_worker_process, people, team, viewport
):
    rejected = asked(people["ann"], team, "Rows per region in sales.csv")
    approval_request_reject(
        request=rejected, reviewer=people["rita"], reason="Total revenue instead of row counts."
    )
    with chromium() as browser:
        trip = journey(browser, live_server, "revise", viewport)
        with_worker_log(celery_worker_process, lambda: revise_journey(trip, rejected))
    trip.assert_no_csp_violation()


def revise_journey(trip: Journey, rejected: ApprovalRequest) -> None:
    page = trip.context().new_page()
    trip.log_in(page, "ann")
    listed = page.locator("ul.requests li", has_text="Rows per region in sales.csv")
    expect(listed.locator(".badge")).to_have_text("Rejected")  # rejected requests stay listed
    trip.check(page, "home-lists-the-rejection")
    listed.get_by_role("link").click()
    first = page.locator(f"#req-{rejected.pk}")
    expect(first.locator(".reason")).to_contain_text("Total revenue instead of row counts.")
    trip.check(page, "rejected-with-reason")
    first.get_by_role("button", name="Ask again with this feedback").click()

    revision = in_thread(ApprovalRequest.objects.get, parent=rejected)
    assert page.url.endswith(f"#req-{revision.pk}")
    second = page.locator(f"#req-{revision.pk}")
    expect(second.locator(".versions")).to_contain_text("replaces version 1")
    expect(first.locator(".versions.next")).to_contain_text("Asked again as version 2")
    expect(second.locator(".status")).to_contain_text("Waiting for review")
    expect(second.locator("section.plan")).to_contain_text(
        "Adds up revenue for each region"
    )  # the feedback, read
    expect(second.locator("details.diff")).to_contain_text("What changed from version 1")
    expect(second.locator("details.diff")).to_contain_text("Total revenue instead of row counts.")
    second.locator(".versions a").click()
    assert page.url.endswith(f"#req-{rejected.pk}")
    trip.check(page, "version-2-with-diff", full_page=True)


# --- the auditor -----------------------------------------------------------------------------------------


def test_auditor_reads_the_audit_log_then_the_spend_report(live_server, people, team, viewport):
    request = asked(people["ann"], team, "Total revenue by region")
    approval_request_approve(request=request, reviewer=people["rita"])
    CostSpan.objects.create(
        provider="local",
        model="sandbox",
        tenant=team,
        user=people["ann"],
        feature="execution",
        cost_usd="0.0042",
    )
    ann = people["ann"]
    CostSpan.objects.create(
        provider="mistral",
        model="mistral-small-latest",
        tenant=team,
        user=ann,
        feature="generation",
        cost_usd="1.25",
    )
    with chromium() as browser:
        trip = journey(browser, live_server, "auditor", viewport)
        page = trip.context().new_page()
        trip.log_in(page, "otto")
        assert page.url == f"{trip.url}/admin/audit/auditevent/"  # an auditor lands on the audit log
        expect(page.locator("#result_list")).to_contain_text("Request approved")
        trip.check(page, "audit-log")
        page.locator("#sg-work").get_by_role("link", name="Spend report").click()
        expect(page.get_by_role("heading", name="Daily spend per team (UTC)")).to_be_visible()
        expect(page.locator("main, #content").first).to_contain_text("$1.25")
        assert fits_the_width(page)
        trip.check(page, "spend-report")
        page.get_by_role("link", name="Every cost span, newest first").click()
        rows = page.locator("#result_list tbody tr")
        expect(rows.first).to_contain_text("$1.25")  # the newest first, in cents
        expect(rows.nth(1)).to_contain_text("$0.0042")  # under a cent: more digits
        trip.check(page, "cost-spans")
    trip.assert_no_csp_violation()
