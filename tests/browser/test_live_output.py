"""The session page shows what a run prints while it runs: only its output box changes (a real browser, the
live server, a real worker and the local sandbox)."""

from __future__ import annotations

from playwright.sync_api import expect

from analysis.models import Execution
from approvals.services import approval_request_approve
from tests.browser.support import Journey, chromium, in_thread, worker_log
from tests.factories import ApprovalRequestFactory

PRINT_SLEEP_PRINT = "import time\nprint('first line', flush=True)\ntime.sleep(6)\nprint('second line')\n"


def test_the_session_page_shows_the_first_printed_line_while_the_run_still_runs(
    live_server, celery_worker_process, people, team, settings
):
    settings.SANDGATE_EXECUTE_ON_APPROVAL = False  # the analyst presses Run
    request = ApprovalRequestFactory(user=people["ann"], team=team, code=PRINT_SLEEP_PRINT, query="Two lines")
    approval_request_approve(request=request, reviewer=people["rita"])
    with chromium() as browser:
        trip = Journey(browser=browser, name="live-output", viewport="desktop", url=live_server.url)
        try:
            watch_the_run(trip, request)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker log ---\n{worker_log(celery_worker_process)}") from None
    trip.assert_no_csp_violation()


def watch_the_run(trip: Journey, request) -> None:
    page = trip.context().new_page()
    trip.log_in(page, "ann", path=f"/login/?next=/sessions/{request.session_id}/")
    turn = page.locator(f"#req-{request.pk}")
    turn.get_by_role("button", name="Run the approved code").click()
    page.evaluate("() => { window.__notReloaded = true; }")

    box = turn.locator(f"#output-text-{request.pk}")
    expect(box).to_contain_text("first line")
    running = in_thread(lambda: Execution.objects.get(request=request).status)
    assert running == Execution.Status.RUNNING
    assert "second line" not in box.inner_text()
    expect(turn.locator(".status")).to_contain_text("Running")
    trip.check(page, "printing-while-running")

    expect(turn.locator(".status")).to_contain_text("Done.")
    expect(turn.locator(".results")).to_contain_text("second line")
    assert page.evaluate("window.__notReloaded") is True  # the page was never reloaded
    assert turn.locator(".live-output").count() == 0  # the results replaced the output box
