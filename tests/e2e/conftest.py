"""Browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium, headless; Playwright
never downloads a browser here) against pytest-django's `live_server`, with axe-core (installed by
`make e2e-deps` into var/e2e/node_modules) run on every page. Run them alone with `make e2e` or
`pytest -m e2e`; they also run in `make test`.

Each test gets its own Playwright and browser: Playwright's sync API runs an event loop on the test's
thread, and Django refuses ORM calls from a thread with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE
is set, which we set for the test's duration only (the ORM calls are the test's own, on its thread; the
live server answers from its own thread)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(settings.BASE_DIR) / "var" / "e2e" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
# The flags a headless Chromium needs on a closed network (no background connections, no GPU).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Records Content-Security-Policy violations for `Pages.check` to report (an init script, like axe-core
# below, is evaluated by the browser itself and is not subject to the page's CSP).
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""
AXE_SERIOUS = """
async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
}
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make e2e-deps` (Debian's chromium package)"
    assert AXE.exists(), f"{AXE} is missing: run `make e2e-deps` (axe-core from npm)"
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, Django keeps this thread's connections apart from those it
            # has outside it (asgiref's Local): close them here, or the test database cannot be dropped.
            connections.close_all()


@dataclass
class Pages:
    """Opens browser contexts that carry axe-core and the CSP recorder, and checks each page visited:
    a full-page screenshot to var/screenshots/<name>.png, no serious or critical axe violation, no CSP
    violation. Problems are collected, so one run reports every page."""

    browser: Any
    base_url: str
    problems: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def context(self) -> Any:
        # axe-core goes in with add_init_script, evaluated by the browser before the page's own scripts
        # and not subject to its CSP: add_script_tag would insert an inline <script>, which the policy
        # (no 'unsafe-inline') refuses. So the pages run under their real CSP, and the test sees any
        # violation of it, with no bypass_csp.
        context = self.browser.new_context(base_url=self.base_url, accept_downloads=True)
        context.add_init_script(script=CSP_RECORDER)
        context.add_init_script(path=str(AXE))
        context.set_default_timeout(15_000)
        return context

    def check(self, page: Any, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        self.seen.append(name)
        violations = page.evaluate(AXE_SERIOUS)
        if violations:
            self.problems.append(f"{name} ({page.url}): axe: {json.dumps(violations, indent=1)}")
        csp = page.evaluate("window.__cspViolations")
        if csp:
            self.problems.append(f"{name} ({page.url}): CSP: {csp}")
        h1 = page.locator("h1").count()
        if h1 != 1:
            self.problems.append(f"{name} ({page.url}): {h1} h1 elements, not one")


@pytest.fixture
def pages(browser: Any, live_server: Any) -> Pages:
    return Pages(browser=browser, base_url=live_server.url)


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/portal/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
