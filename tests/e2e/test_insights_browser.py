"""The insights page in real Chromium (Debian's package): a manager reads it, filters it,
opens the monthly summary and prints it; screenshots of each go to $FRONTDESK_TEST_ARTIFACTS.

A patient first talks to the bot through the widget on a test host page, so the page has a
conversation to count. Pages must raise no script or CSP errors (the console forbids inline
script: charts are plain SVG).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from frontdesk.auth.models import StaffRole
from frontdesk.clock import system_clock
from frontdesk.db import make_session_factory, session_scope
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import AppointmentStatus, VisitType
from tests import factories
from tests.doubles import Reply
from tests.e2e.browser import (
    ARTIFACTS,
    CHAT_FRAME,
    CHROMIUM,
    CHROMIUM_ARGS,
    STAFF_PASSWORD,
    LiveService,
    host_page,
    live_service,
    unavailable,
)
from tests.experiments.support import set_up, wording_spec

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
            chat = patient.frame_locator(CHAT_FRAME)
            composer = chat.get_by_test_id("fd-input")
            composer.fill("what time do you open on saturday")
            composer.press("Enter")
            expect(
                chat.locator("[data-testid=fd-msg][data-role=bot]").filter(has_text="You said")
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


def _experiment_with_visits(service: LiveService) -> None:
    """A wording experiment on the demo practice with finished visits in both arms."""
    with session_scope(make_session_factory(service.engine, clock=system_clock)) as db:
        practice = db.scalars(select(Practice)).one()
        provider = db.scalars(select(Provider).where(Provider.practice_id == practice.id)).first()
        visit_type = db.scalars(
            select(VisitType).where(VisitType.practice_id == practice.id)
        ).first()
        assert provider is not None and visit_type is not None
        patients = [factories.patient(db, practice=practice).id for _ in range(6)]
        now = system_clock()
        first_day = (now - timedelta(days=5)).astimezone(ZoneInfo(practice.timezone)).date()
        set_up(
            db,
            practice_id=practice.id,
            spec=wording_spec(first_day),
            arms=[(p, "standard") for p in patients[:3]]
            + [(p, "held-for-you") for p in patients[3:]],
        )
        outcomes = [
            AppointmentStatus.NOSHOW,
            AppointmentStatus.NOSHOW,
            AppointmentStatus.FULFILLED,
            AppointmentStatus.FULFILLED,
            AppointmentStatus.FULFILLED,
            AppointmentStatus.NOSHOW,
        ]
        for index, (patient_id, status) in enumerate(zip(patients, outcomes, strict=True)):
            factories.appointment(
                db,
                patient=db.get_one(Patient, patient_id),
                provider=provider,
                visit_type=visit_type,
                start=now - timedelta(days=1, hours=2 * index),
                status=status,
                source="ehr",
            )


def test_a_manager_reads_a_reminder_experiment_with_its_intervals(
    browser: Browser, service: LiveService
) -> None:
    _experiment_with_visits(service)
    context = browser.new_context(
        base_url=service.base_url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(UI_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"uncaught {error!r}"))
    try:
        page.goto("/console/insights")
        page.get_by_label("Email").fill(MANAGER)
        page.get_by_label("Password").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/console/insights#experiments")
        section = page.get_by_test_id("experiment-wording")
        expect(section).to_be_visible()
        expect(section.locator("svg.ci-chart circle")).to_have_count(2)
        expect(section.get_by_test_id("verdict")).to_have_text(
            re.compile(
                r"^held-for-you vs standard: no-show rate 33\.3 points lower .*not yet significant"
            )
        )
        rows = section.locator("#t-experiment-wording tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first.locator("th")).to_have_text("standard (control)")
        section.scroll_into_view_if_needed()
        page.screenshot(path=_artifact("insights-4-experiment.png"), full_page=True)
        section.screenshot(path=_artifact("insights-5-experiment-section.png"))
        with page.expect_download() as download:
            section.get_by_test_id("export-experiment-wording").click()
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].startswith("Arm,Visits,Attended,No-shows,Pending,No-show %")
        assert lines[1].startswith("standard (control),3,1,2,0,66.7,")
        assert problems == []
    finally:
        context.close()


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
