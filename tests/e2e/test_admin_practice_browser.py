"""The practice set-up pages in real Chromium (Debian's package): an admin adds time off for
the provider of the first open sick visit and sees that time leave the offered times, then
lengthens the sick visit and sees the offered times change length. Screenshots go to
$FRONTDESK_TEST_ARTIFACTS. Runs on the real clock: every date is read from the page.
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
    live_service,
    unavailable,
)

UNAVAILABLE = unavailable()
if UNAVAILABLE and os.environ.get("CI") != "true":
    pytest.skip(f"browser tests: {UNAVAILABLE}", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.browser]
UI_MS = 15_000
ADMIN = "avery.admin@riverside.example"


def replies(text: str) -> list[Reply]:
    return [{"text": "Virtual assistant here."}]


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
        running.add_staff(ADMIN, "Avery Admin", StaffRole.ADMIN)
        yield running


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"admin-practice-{name}.png", full_page=True)


def offered_times(page: Page) -> list[tuple[str, str, str]]:
    """(day, provider, minutes) of each time the preview offers for a sick visit."""
    page.get_by_label("Visit type", exact=True).select_option(label="Sick visit")
    page.get_by_role("button", name="Show offered times").click()
    items = page.get_by_test_id("offered").locator("li[data-day]")
    expect(items.first).to_be_visible()
    return [
        (
            item.get_attribute("data-day") or "",
            item.get_attribute("data-provider") or "",
            item.get_attribute("data-minutes") or "",
        )
        for item in items.all()
    ]


def test_time_off_and_a_longer_visit_change_the_offered_times(
    browser: Browser, service: LiveService
) -> None:
    problems: list[str] = []
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
        page.goto("/console/admin")
        page.get_by_label("Email").fill(ADMIN)
        page.get_by_label("Password").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/console/admin")
        expect(page.get_by_role("heading", name="Practice set-up", exact=True)).to_be_visible()
        before = offered_times(page)
        day, provider, minutes = before[0]
        assert minutes == "20"
        shot(page, "1-offered")

        page.get_by_role("link", name="Add time off or a holiday").click()
        page.get_by_label("Who").select_option(label=provider)
        page.get_by_label("First day").fill(day)
        page.get_by_label("Reason (staff see it; patients do not)").fill("Out of office")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_test_id("done")).to_contain_text("Saved")
        expect(page.get_by_test_id("exceptions")).to_contain_text("Out of office")
        after_time_off = offered_times(page)
        assert (day, provider) not in {(d, p) for d, p, _ in after_time_off}
        shot(page, "2-after-time-off")

        page.get_by_role("link", name="Edit Sick visit").click()
        length = page.get_by_label("Length in minutes")
        length.fill("33")
        page.get_by_role("button", name="Save visit type").click()
        expect(page.get_by_test_id("error-minutes")).to_contain_text("multiple of 5")
        expect(length).to_have_attribute("aria-invalid", "true")
        shot(page, "3-invalid-length")
        length.fill("30")
        page.get_by_role("button", name="Save visit type").click()
        expect(page.get_by_test_id("done")).to_contain_text("Saved")
        after_length = offered_times(page)
        assert {m for _, _, m in after_length} == {"30"}
        assert (day, provider) not in {(d, p) for d, p, _ in after_length}
        shot(page, "4-longer-visit")
        # The one refused form answers 422, which Chromium reports; nothing else may show.
        assert problems == [
            "console.error: Failed to load resource: the server responded with a status of "
            "422 (Unprocessable Entity)"
        ]
    finally:
        context.close()
