"""The insights page in real Chromium (Debian's package): a manager reads it, filters it,
opens the monthly summary and prints it; screenshots of each go to $FRONTDESK_TEST_ARTIFACTS.

A patient first talks to the bot through the widget on a test host page, so the page has a
conversation to count. Pages must raise no script or CSP errors (the console forbids inline
script: charts are plain SVG).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from frontdesk.auth.models import StaffRole
from tests.doubles import Reply
from tests.e2e.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    STAFF_PASSWORD,
    LiveService,
    host_page,
    live_service,
    unavailable,
)

UNAVAILABLE = unavailable()
if UNAVAILABLE and os.environ.get("CI") != "true":
    pytest.skip(f"browser tests: {UNAVAILABLE}", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.browser]
UI_MS = 15_000
MANAGER = "morgan.manager@riverside.example"


def replies(text: str) -> list[Reply]:
    return [{"text": f"Virtual assistant here. You said: {text}"}]


@pytest.fixture(scope="session", autouse=True)
def _browser_must_run_in_ci() -> None:
    """Under CI=true a missing browser fails every test here."""
    if UNAVAILABLE:
        pytest.fail(f"CI=true, so the browser tests must run, but {UNAVAILABLE}", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LiveService]:
    with live_service(tmp_path / "service", replies) as running:
        running.add_staff(MANAGER, "Morgan Manager", StaffRole.MANAGER)
        yield running


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"insights-{name}.png", full_page=True)


def test_a_manager_reads_filters_and_prints_the_insights(
    browser: Browser, service: LiveService
) -> None:
    problems: list[str] = []
    patient = browser.new_context(locale="en-US").new_page()
    context = browser.new_context(
        base_url=service.base_url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(UI_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"uncaught {error!r}"))

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console.{message.type}: {message.text}")

    page.on("console", on_console)
    try:
        with host_page(service.base_url) as port:
            patient.set_default_timeout(UI_MS)
            patient.goto(f"http://localhost:{port}/")
            composer = patient.get_by_test_id("fd-input")
            composer.fill("what time do you open on saturday")
            composer.press("Enter")
            expect(
                patient.locator("[data-testid=fd-msg][data-role=bot]").filter(has_text="You said")
            ).to_be_visible()

        page.goto("/console/insights")
        page.get_by_label("Email").fill(MANAGER)
        page.get_by_label("Password").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/console/insights")
        expect(page.get_by_role("heading", name="Insights", exact=True)).to_be_visible()
        expect(page.locator("[data-kpi=conversations]")).not_to_have_text("0")
        expect(page.locator("svg.chart")).to_have_count(4)
        assert page.locator("[data-testid=chart-conversations] rect.s-good").count() >= 30
        expect(page.get_by_test_id("export-conversations")).to_be_visible()
        shot(page, "1-per-day")

        page.get_by_label("Per", exact=True).select_option("month")
        page.get_by_label("Channel", exact=True).select_option("webchat")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(
            f"{service.base_url}/console/insights?period=month&channel=webchat&from="
        )
        expect(page.locator("#t-conversations tbody tr")).to_have_count(12)
        shot(page, "2-per-month-webchat")

        with page.expect_download() as download:
            page.get_by_test_id("export-bot_actions").click()
        saved = download.value.path()
        header = Path(saved).read_text().splitlines()[0]
        assert header == "Period,Bookings,Reschedules,Cancellations,Confirmations"

        page.get_by_role("link", name="Monthly summary").click()
        expect(page.get_by_text("Save as PDF")).to_be_visible()
        page.emulate_media(media="print")
        expect(page.locator(".site-header")).to_be_hidden()
        expect(page.get_by_text("Save as PDF")).to_be_hidden()
        shot(page, "3-summary-print")
        assert problems == []
    finally:
        context.close()
        patient.context.close()
