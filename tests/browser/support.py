"""What every browser journey uses: Debian's chromium, the CSP watch, axe-core, screenshots, logging in.

Playwright drives /usr/bin/chromium (`playwright install` is never run). Each page a journey visits is
checked by axe-core (npm, pinned in tests/browser/package-lock.json, installed by `make install`): a
serious or critical violation fails the journey. axe is evaluated through the DevTools protocol, which the
page's Content-Security-Policy does not govern; nothing else on the page runs outside the policy, and any
violation the browser reports fails the journey too.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

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
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests-artifacts" / "browser"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
PASSWORD = "browser-test-pass"
WAIT_MS = 60_000
FAILING_IMPACTS = ("serious", "critical")
# Runs in every page before its own scripts; reports each CSP violation to the test (Playwright's binding).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.documentURI}`);
});
"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"], preload: false});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "")),
  }));
}"""


@dataclass
class Journey:
    """One journey at one viewport: its browser, what the browser reported, the pages it checked."""

    browser: object
    name: str
    viewport: str
    url: str
    csp_violations: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    steps: int = 0

    def context(self):
        size = VIEWPORTS[self.viewport]
        context = self.browser.new_context(
            viewport=size, is_mobile=self.viewport == "phone", accept_downloads=True
        )
        watch_csp(context, self.csp_violations)
        return context

    def shot(self, page, step: str, *, full_page: bool = False) -> Path:
        """A screenshot in tests-artifacts/browser/, named journey-viewport-NN-step.png."""
        self.steps += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{self.viewport}-{self.steps:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    def check(self, page, step: str, *, full_page: bool = False) -> None:
        """The page as it is now: a screenshot, then axe-core; serious or critical violations fail."""
        self.shot(page, step, full_page=full_page)
        violations = axe_violations(page)
        self.checked.append(f"{step}: {page.url}")
        assert not violations, f"axe on {step} ({page.url}):\n" + json.dumps(violations, indent=1)

    def log_in(self, page, username: str, *, path: str = "/login/") -> None:
        page.goto(f"{self.url}{path}")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name=re.compile("log in", re.I)).click()
        page.wait_for_load_state()

    def assert_no_csp_violation(self) -> None:
        assert self.csp_violations == [], "\n".join(self.csp_violations)


def watch_csp(context, violations: list[str]) -> None:
    """Collect every CSP violation of the pages of this browser context, however the browser reports it."""
    context.expose_function("reportCspViolation", lambda text: violations.append(text))
    context.add_init_script(REPORT_CSP_VIOLATIONS)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"console: {message.text}")

    context.on("console", on_console)
    context.on("page", lambda page: page.on("console", on_console))


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    assert AXE.exists(), f"{AXE} is missing: run `make install` (npm ci in tests/browser)"
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # DevTools' evaluate: not an inline <script>
    return [v for v in page.evaluate(AXE_RUN) if v["impact"] in FAILING_IMPACTS]


def in_view(page, locator) -> bool:
    """Whether the element lies wholly inside the viewport as the page is scrolled now."""
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def fits_the_width(page) -> bool:
    """Nothing makes the page scroll sideways (a wide table scrolls inside its own box)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@contextmanager
def chromium():
    """Debian's chromium, headless. Started and stopped inside the test body, not in a fixture: Playwright's
    greenlets would otherwise be live while pytest-django flushes the database at teardown."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def worker_log(worker) -> str:
    return worker.output.tail()


def in_thread(function, /, *args, **kwargs):
    """Run database work of a journey in a thread of its own: Django refuses it inside Playwright's event
    loop (SynchronousOnlyOperation), and the live server sees what it commits."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()
