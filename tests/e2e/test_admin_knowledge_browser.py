"""An admin uploads a knowledge document in the console (real Chromium), watches the ingest
finish, and a patient on the practice's website then gets an answer from it in the widget.

The service is the real app served by uvicorn; Rasa is replaced by the bot double, which runs
the real `action_answer_question` through the action endpoint and renders its response
template as Rasa would. Screenshots go to $FRONTDESK_TEST_ARTIFACTS.
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
    CHAT_FRAME,
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

from playwright.sync_api import FilePayload, expect, sync_playwright  # noqa: E402 - when available

pytestmark = [pytest.mark.browser]
UI_MS = 20_000
ADMIN_EMAIL = "avery@riverside.example"
QUESTION = "where can I lock my bicycle?"
BIKES = (
    "# Bicycles\n\n## Bicycle rack\n"
    "Patients who cycle can lock their bicycle at the covered rack beside the north entrance.\n"
)


def answering_bot(text: str) -> list[Reply]:
    """Every patient message is a question for the knowledge action."""
    return [{"action": "action_answer_question", "intent": "ask_question", "text": text}]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LiveService]:
    if UNAVAILABLE:
        pytest.fail(f"CI=true, so the browser tests must run, but {UNAVAILABLE}", pytrace=False)
    with live_service(tmp_path / "data", answering_bot, render_templates=True) as served:
        served.add_staff(ADMIN_EMAIL, "Avery Admin", StaffRole.ADMIN)
        yield served


def test_an_uploaded_document_answers_in_the_widget(service: LiveService) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            staff = browser.new_context(base_url=service.base_url).new_page()
            staff.set_default_timeout(UI_MS)
            staff.goto("/console/admin/knowledge")
            staff.get_by_label("Email").fill(ADMIN_EMAIL)
            staff.get_by_label("Password").fill(STAFF_PASSWORD)
            staff.get_by_role("button", name="Sign in").click()
            expect(staff.get_by_role("heading", name="Knowledge documents")).to_be_visible()
            expect(staff.locator('tr[data-document="parking.md"]')).to_be_visible()

            staff.get_by_label("Markdown, text or PDF", exact=False).set_input_files(
                files=[
                    FilePayload(name="bikes.md", mimeType="text/markdown", buffer=BIKES.encode())
                ]
            )
            staff.get_by_role("button", name="Upload").click()
            row = staff.locator('tr[data-document="bikes.md"]')
            expect(row).to_be_visible()  # the page reloads once the ingest is done
            expect(staff.get_by_test_id("ingest-status")).to_contain_text("Re-index finished")
            expect(row.locator("td").nth(3)).not_to_have_text("0")
            staff.screenshot(path=ARTIFACTS / "admin-knowledge-uploaded.png")

            refused = FilePayload(
                name="notes.md", mimeType="text/markdown", buffer=b"DOB 03/14/1980"
            )
            staff.get_by_label("Markdown, text or PDF", exact=False).set_input_files(
                files=[refused]
            )
            staff.get_by_role("button", name="Upload").click()
            expect(staff.get_by_test_id("knowledge-error")).to_contain_text("date of birth")

            with host_page(service.base_url) as port:
                patient = browser.new_context().new_page()
                patient.set_default_timeout(UI_MS)
                patient.goto(f"http://localhost:{port}/")
                chat = patient.frame_locator(CHAT_FRAME)  # the chat runs in our own frame
                composer = chat.get_by_test_id("fd-input")
                composer.fill(QUESTION)
                composer.press("Enter")
                answer = chat.locator("[data-testid=fd-msg][data-role=bot]").filter(
                    has_text="north entrance"
                )
                expect(answer).to_contain_text("Source: bikes.md")
                patient.screenshot(path=ARTIFACTS / "widget-answer-from-upload.png")
        finally:
            browser.close()
