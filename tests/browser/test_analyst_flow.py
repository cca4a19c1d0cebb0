"""The analyst's whole flow in a real browser (Debian's chromium), a real worker and the real sandbox.

An analyst uploads a dataset and asks; the page says "waiting for review"; a reviewer approves in the
admin (another browser context); the analyst's page, never reloaded, shows the chart; the notebook
download is valid nbformat. Each step leaves a screenshot in tests-artifacts/browser/. Every page runs under
the Content-Security-Policy: any violation the browser reports (a `securitypolicyviolation` event, or its
console message) fails the test.
"""

import os
import re
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from django.contrib.auth.models import Permission

from analysis.demo import sales_csv
from billing.models import Membership
from tests.factories import member

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "tests-artifacts" / "browser"
PASSWORD = "browser-test-pass"
WAIT_MS = 60_000
# Runs in every page before its own scripts; reports each CSP violation to the test (Playwright's binding).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.documentURI}`);
});
"""


def watch_csp(context, violations: list[str]) -> None:
    """Collect every CSP violation of the pages of this browser context, however the browser reports it."""
    context.expose_function("reportCspViolation", lambda text: violations.append(text))
    context.add_init_script(REPORT_CSP_VIOLATIONS)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"console: {message.text}")

    context.on("console", on_console)
    context.on("page", lambda page: page.on("console", on_console))


@contextmanager
def chromium():
    """Debian's chromium, headless. Started and stopped inside the test body, not in a fixture: Playwright's
    greenlets would otherwise be live while pytest-django flushes the database at teardown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def people(team):
    analyst = member(team, Membership.Role.ANALYST, user__username="ann")
    reviewer = member(team, Membership.Role.REVIEWER, user__username="rita")
    reviewer.is_staff = True
    for user in (analyst, reviewer):
        user.set_password(PASSWORD)
        user.save()
    for codename in ("view_approvalrequest", "change_approvalrequest"):
        reviewer.user_permissions.add(Permission.objects.get(codename=codename))
    return analyst, reviewer


def worker_log(worker) -> str:
    while not worker.lines.empty():
        worker.log.append(worker.lines.get_nowait())
    return "".join(worker.log[-40:])


def shot(page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def log_in(page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill("ann" if "/admin/" not in url else "rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()


def test_analyst_asks_reviewer_approves_and_the_chart_appears_without_a_reload(
    live_server, celery_worker_process, people, settings, tmp_path
):
    settings.SANDGATE_EXECUTE_ON_APPROVAL = True
    violations: list[str] = []
    with chromium() as browser:
        try:
            notebook_path = analyst_and_reviewer_in_the_browser(
                browser, live_server.url, tmp_path, violations
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker log ---\n{worker_log(celery_worker_process)}") from None
    assert violations == [], "\n".join(violations)
    notebook = nbformat.read(notebook_path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert "/data/sales.csv" in code[0].source
    assert any("image/png" in o.get("data", {}) for o in code[0].outputs)
    assert os.path.getsize(SCREENSHOTS / "05-chart.png") > 0


def analyst_and_reviewer_in_the_browser(browser, url: str, tmp_path, violations: list[str]) -> Path:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    analyst_context = browser.new_context(viewport={"width": 1100, "height": 900})
    watch_csp(analyst_context, violations)
    analyst_page = analyst_context.new_page()
    response = analyst_page.goto(f"{url}/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    log_in(analyst_page, f"{url}/login/")
    expect(analyst_page.get_by_role("heading", name="Hello, ann")).to_be_visible()
    shot(analyst_page, "01-home")
    analyst_page.keyboard.press("Tab")  # keyboard users meet the skip link first
    assert analyst_page.evaluate("document.activeElement.textContent") == "Skip to content"

    data = tmp_path / "sales.csv"
    data.write_bytes(sales_csv(rows=120))
    analyst_page.get_by_role("link", name="Datasets").click()
    analyst_page.get_by_label("Data file").set_input_files(str(data))
    analyst_page.get_by_role("button", name="Upload").click()
    expect(analyst_page.get_by_text("Uploaded sales.csv: 120 rows.")).to_be_visible()
    shot(analyst_page, "02-dataset-preview")

    analyst_page.get_by_role("link", name="Ask a question").first.click()
    analyst_page.get_by_label("Your question").fill("Load sales.csv and plot monthly revenue by region")
    analyst_page.get_by_label("sales.csv").check()
    analyst_page.get_by_role("button", name="Ask").click()
    turn = analyst_page.locator("article.turn")
    expect(turn.locator(".status")).to_contain_text("Waiting for review")
    expect(turn.locator(".highlight")).to_contain_text("/data/sales.csv")
    expect(turn.locator(".plan")).to_contain_text("Adds up revenue per month of date for each region")
    shot(analyst_page, "03-waiting-for-review")
    request_id = turn.get_attribute("id").removeprefix("req-")
    analyst_page.evaluate("window.__sandgateNotReloaded = true")

    reviewer_context = browser.new_context(viewport={"width": 1200, "height": 1000})
    watch_csp(reviewer_context, violations)
    reviewer_page = reviewer_context.new_page()
    log_in(reviewer_page, f"{url}/admin/login/")
    expect(reviewer_page.locator(".sg-pending-count")).to_have_text("1")
    reviewer_page.goto(f"{url}/admin/approvals/approvalrequest/{request_id}/change/")
    shot(reviewer_page, "04-reviewer-console", full_page=False)
    reviewer_page.get_by_role("button", name=re.compile("^Approve", re.I)).click()
    expect(reviewer_page.locator(".messagelist")).to_contain_text("Approved")
    reviewer_page.goto(f"{url}/admin/approvals/approvalrequest/")  # the list, its filters and search (CSP)
    expect(reviewer_page.locator("#result_list")).to_be_visible()

    expect(turn.locator("img.chart").first).to_be_visible()
    expect(turn.locator(".status")).to_contain_text("Done")
    assert analyst_page.evaluate("window.__sandgateNotReloaded") is True
    assert "Approved by rita" in turn.inner_text()
    shot(analyst_page, "05-chart")
    analyst_page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing scrolls sideways
    assert analyst_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(analyst_page, "06-phone", full_page=False)

    with analyst_page.expect_download() as download:
        analyst_page.get_by_role("link", name="as notebook (.ipynb)").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    missing = analyst_page.goto(f"{url}/nonexistent")  # the friendly 404 runs under the CSP too
    assert missing.status == 404
    expect(analyst_page.get_by_role("heading", name="Page not found")).to_be_visible()
    return saved
