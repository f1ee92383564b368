"""The chat widget in a real browser: Chromium (Debian's package, never a downloaded one) drives
the demo page of a running Frontdesk (`stack`), as a patient would.

Needs the Python `playwright` package (requirements/service.lock) and Chromium at
/usr/bin/chromium (scripts/install-browser.sh) or at $FRONTDESK_CHROMIUM. Without them the
module is skipped, except under CI=true, where that is an error. Screenshots go to
$FRONTDESK_TEST_ARTIFACTS (default var/test-artifacts/browser).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import frontdesk.models  # noqa: F401 - every table, so cross-domain foreign keys resolve
from frontdesk import texts
from frontdesk.auth.origins import disallow_origin
from frontdesk.clock import system_clock
from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.language import Language
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import VisitType
from tests import factories
from tests.doubles import Reply
from tests.e2e.browser import LiveService, host_page, live_service
from tests.support.stack import ROOT, Stack
from tests.web.test_widget_strings import strings_of

try:
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Frame,
        FrameLocator,
        Locator,
        Page,
        WebSocket,
        expect,
        sync_playwright,
    )
except ImportError as error:
    PLAYWRIGHT_MISSING: str | None = (
        f"the Python 'playwright' package is not importable ({error}); run `make setup`"
    )
else:
    PLAYWRIGHT_MISSING = None

pytestmark = [pytest.mark.browser]

CHROMIUM = Path(os.environ.get("FRONTDESK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(
    os.environ.get("FRONTDESK_TEST_ARTIFACTS", str(ROOT / "var" / "test-artifacts" / "browser"))
)
BOT_REPLY_MS = 60_000  # Rasa's first answers can be slow on a cold model
UI_MS = 15_000
RESUME_KEY = "frontdesk:riverside:resume"  # the chat frame's own sessionStorage key
HOTPINK = "rgb(255, 105, 180)"  # what demo.html forces on every host-page <button>
SHADOW = "document.querySelector('frontdesk-widget').shadowRoot"


def _unavailable() -> str | None:
    if PLAYWRIGHT_MISSING:
        return PLAYWRIGHT_MISSING
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"no Chromium at {CHROMIUM}: run scripts/install-browser.sh "
            "or point FRONTDESK_CHROMIUM at one"
        )
    return None


UNAVAILABLE = _unavailable()
if UNAVAILABLE and os.environ.get("CI") != "true":
    pytest.skip(f"browser tests: {UNAVAILABLE}", allow_module_level=True)


@pytest.fixture(scope="session", autouse=True)
def _browser_must_run_in_ci() -> None:
    """Under CI=true a missing browser fails every test here (before the stack even starts)."""
    if UNAVAILABLE:
        pytest.fail(f"CI=true, so the browser tests must run, but {UNAVAILABLE}", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module; every test gets its own context."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def demo_page(
    browser: Browser, stack: Stack, request: pytest.FixtureRequest, locale: str
) -> Iterator[Page]:
    """The demo page in a fresh context (its own sessionStorage), with the chat panel open."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        base_url=stack.base_url, locale=locale, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(UI_MS)
    page = context.new_page()
    problems: list[str] = []  # uncaught exceptions, console errors and warnings
    page.on("pageerror", lambda error: problems.append(f"uncaught {error!r}"))

    def on_console(message: ConsoleMessage) -> None:
        source = message.location.get("url", "")
        if message.type in ("error", "warning") and not source.endswith("/favicon.ico"):
            problems.append(f"console.{message.type}: {message.text} ({source})")

    page.on("console", on_console)
    failures_before = request.session.testsfailed
    try:
        page.goto("/demo")
        expect(chat_of(page).get_by_test_id("fd-panel")).to_be_visible()  # data-open="true"
        expect(page.get_by_test_id("fd-launcher")).to_have_attribute("aria-expanded", "true")
        yield page
        if request.session.testsfailed > failures_before:
            page.screenshot(path=ARTIFACTS / f"FAILED-{request.node.name}.png")
        assert problems == [], "the page logged problems"
    finally:
        context.close()


@pytest.fixture
def demo(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The demo page, in an English-speaking browser."""
    with demo_page(browser, stack, request, "en-US") as page:
        yield page


@pytest.fixture
def demo_es(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The demo page, in a Spanish-speaking browser (US Spanish)."""
    with demo_page(browser, stack, request, "es-US") as page:
        yield page


def shot(page: Page, name: str) -> None:
    """Save a screenshot of the whole viewport under ARTIFACTS."""
    page.screenshot(path=ARTIFACTS / f"{name}.png")


FRAME = "[data-testid=fd-chat-frame]"  # the launcher's iframe (inside its shadow root)


def chat_of(page: Page) -> FrameLocator:
    """The chat itself: it runs in the launcher's iframe, a page of the service's origin."""
    return page.frame_locator(FRAME)


def chat_frame(page: Page) -> Frame:
    """The chat frame as a frame, to read its own storage (the host page cannot)."""
    handle = page.locator(FRAME).element_handle()
    frame = handle.content_frame() if handle else None
    assert frame is not None, "no chat frame"
    return frame


def say(page: Page | FrameLocator, text: str) -> None:
    """Type into the composer and press Enter, as a patient would."""
    composer = page.get_by_test_id("fd-input")
    composer.fill(text)
    composer.press("Enter")
    expect(composer).to_have_value("")


def choices(page: Page | FrameLocator, title: str | re.Pattern[str]) -> Locator:
    """Reply buttons that can still be clicked, by exact title or by pattern."""
    if isinstance(title, str):
        title = re.compile(rf"^\s*{re.escape(title)}\s*$")
    return page.locator("[data-testid=fd-choice]:enabled").filter(has_text=title)


def messages(page: Page | FrameLocator, role: str) -> Locator:
    """Chat bubbles from `role` (patient, bot or staff)."""
    return page.locator(f"[data-testid=fd-msg][data-role={role}]")


def test_patient_books_through_the_widget(demo: Page, stack: Stack) -> None:
    say(chat_of(demo), "I'd like to book an appointment")
    sick_visit = choices(chat_of(demo), "Sick visit")
    expect(sick_visit).to_be_visible(timeout=BOT_REPLY_MS)
    sick_visit.click()
    no_preference = choices(chat_of(demo), "No preference")
    expect(no_preference).to_be_visible(timeout=BOT_REPLY_MS)
    no_preference.click()
    expect(messages(chat_of(demo), "bot").last).to_contain_text(
        "What day and time", timeout=BOT_REPLY_MS
    )

    say(chat_of(demo), "next tue after 3")
    offers = choices(chat_of(demo), re.compile(r"^\s*Tue, "))
    expect(offers.first).to_be_visible(timeout=BOT_REPLY_MS)
    assert 1 <= offers.count() <= 3
    shot(demo, "booking-1-offers")
    offer = offers.first.inner_text().strip()  # "Tue, Dec 1 · 3:00 PM · Dr. Amara Patel"
    _day, time, provider = (part.strip() for part in offer.split("·"))
    offers.first.click()

    identity = chat_of(demo).get_by_test_id("fd-identity")
    expect(identity).to_be_visible(timeout=BOT_REPLY_MS)
    identity.get_by_label("Full name").fill("Casey Example")
    identity.locator("input[type=date]").fill("1990-09-30")
    identity.get_by_test_id("fd-identity-submit").click()
    expect(chat_of(demo).get_by_test_id("fd-identity-sent")).to_be_visible()
    expect(identity).to_have_count(0)  # the form and what was typed into it are gone

    # Casey is on file: her record is linked once the code texted to her phone comes back.
    # The form says only "if we have a record", and shows no digits of her number.
    otp = chat_of(demo).get_by_test_id("fd-otp")
    expect(otp).to_be_visible(timeout=BOT_REPLY_MS)
    expect(otp).to_contain_text("If we have a record")
    expect(otp).not_to_contain_text("02")
    otp.get_by_label("6-digit code").fill(stack.latest_code("+15555550102"))
    otp.get_by_test_id("fd-otp-submit").click()

    confirmation = messages(chat_of(demo), "bot").filter(has_text="You're booked!")
    expect(confirmation).to_be_visible(timeout=BOT_REPLY_MS)
    expect(confirmation).to_contain_text("Riverside Main Clinic")
    expect(confirmation).to_contain_text(time)
    expect(confirmation).to_contain_text(provider)
    shot(demo, "booking-2-confirmed")

    log = chat_of(demo).get_by_test_id("fd-log").inner_text()
    assert "Casey Example" not in log
    assert "1990" not in log
    frame = chat_frame(demo)
    assert frame.evaluate("() => Object.keys(window.sessionStorage)") == [RESUME_KEY]
    assert "Sample" not in frame.evaluate(f"() => window.sessionStorage.getItem('{RESUME_KEY}')")
    assert frame.evaluate("() => window.localStorage.length") == 0
    # The demo page is our own origin, so it shares the frame's storage; other sites do not
    # (test_an_allowed_website_chats_without_ever_holding_the_resume_token).
    assert demo.evaluate("() => window.localStorage.length") == 0


# A made-up Spanish-speaking patient of the demo practice, created by the test below (a
# 555-01xx number no demo patient and no scripted conversation uses).
LUCIA_FIRST, LUCIA_LAST = "Lucía", "Ejemplar"
LUCIA_BORN = date(1984, 5, 17)
LUCIA_PHONE = "+15555550197"
PRACTICE_TZ = ZoneInfo("America/New_York")  # the demo practice's


def seed_lucia_with_a_visit(stack: Stack) -> datetime:
    """Lucía, once per stack, with a booked sick visit about five weeks ahead; its start."""
    engine = make_engine(f"sqlite:///{stack.data_dir / 'frontdesk.db'}")
    try:
        with session_scope(make_session_factory(engine, clock=system_clock)) as db:
            practice = db.scalars(select(Practice).where(Practice.slug == "riverside")).one()
            patient = db.scalar(select(Patient).where(Patient.phone == LUCIA_PHONE))
            if patient is None:
                patient = factories.patient(
                    db,
                    practice=practice,
                    first_name=LUCIA_FIRST,
                    last_name=LUCIA_LAST,
                    date_of_birth=LUCIA_BORN,
                    phone=LUCIA_PHONE,
                )
            provider = db.scalars(
                select(Provider).where(
                    Provider.practice_id == practice.id, Provider.display_name == "Dr. Amara Patel"
                )
            ).one()
            visit = db.scalars(
                select(VisitType).where(
                    VisitType.practice_id == practice.id, VisitType.name == "Sick visit"
                )
            ).one()
            day = datetime.now(PRACTICE_TZ).date() + timedelta(days=35)
            for _ in range(30):  # the first free weekday at 4:00 PM
                start = datetime(day.year, day.month, day.day, 16, tzinfo=PRACTICE_TZ)
                day += timedelta(days=1)
                if start.weekday() >= 5:
                    continue
                try:
                    with db.begin_nested():
                        factories.appointment(
                            db, patient=patient, provider=provider, visit_type=visit, start=start
                        )
                except IntegrityError:
                    continue
                return start
    finally:
        engine.dispose()
    raise RuntimeError("no free time to seed Lucía's visit")


def english_phrases() -> set[str]:
    """What we would show in English, cut at placeholders into phrases of three words or more:
    the service's catalogue, the widget's own strings and the bot's English responses."""
    templates = list(texts.catalogue(Language.EN).values())
    templates += strings_of("chat.js")["en"].values()
    for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
        domain = yaml.safe_load(path.read_text("utf-8")) or {}
        for variants in (domain.get("responses") or {}).values():
            templates += [v["text"] for v in variants if "text" in v and "condition" not in v]
    phrases: set[str] = set()
    for template in templates:
        for piece in re.split(r"\{[^}]*\}|[\n•]", template):
            words = piece.strip(" .,:;!?()'\"")
            if len(words.split()) >= 3:
                phrases.add(words.lower())
    return phrases


def english_in(chat: FrameLocator) -> list[str]:
    """The English phrases the chat panel shows now (none, in a Spanish conversation)."""
    panel = chat.get_by_test_id("fd-panel").inner_text().lower()
    return sorted(phrase for phrase in english_phrases() if phrase in panel)


def last_code_text(stack: Stack, phone: str) -> str:
    """The body of the last one-time code texted to `phone` (the sandbox keeps it)."""
    with sqlite3.connect(stack.data_dir / "frontdesk.db") as db:
        row = db.execute(
            "SELECT body FROM outbound_sms WHERE kind = 'otp' AND to_phone = ? "
            "ORDER BY id DESC LIMIT 1",
            (phone,),
        ).fetchone()
    assert row is not None, "no code was texted"
    return str(row[0])


def test_a_spanish_speaking_patient_sees_her_visits_through_the_identity_form_and_code(
    demo_es: Page, stack: Stack
) -> None:
    """Issue 15: the widget in Spanish through the identity form and the code step."""
    start = seed_lucia_with_a_visit(stack)
    es = strings_of("chat.js")["es"]
    chat = chat_of(demo_es)
    expect(chat.get_by_test_id("fd-input")).to_have_attribute("placeholder", es["placeholder"])
    say(chat, "Hola, no me acuerdo cuándo es mi cita")

    identity = chat.get_by_test_id("fd-identity")
    expect(identity).to_be_visible(timeout=BOT_REPLY_MS)
    expect(messages(chat, "bot").last).to_contain_text("es usted")  # why the form is asked
    expect(identity).to_contain_text(es["verify_title"])
    expect(identity).to_contain_text("Su nombre y fecha de nacimiento")  # the bot's reason
    submit = identity.get_by_test_id("fd-identity-submit")
    expect(submit).to_have_text(es["verify"])
    submit.click()  # nothing filled in: the errors are Spanish too
    expect(identity).to_contain_text(es["name_required"])
    expect(identity).to_contain_text(es["dob_required"])
    identity.get_by_label(es["full_name"]).fill(f"{LUCIA_FIRST} {LUCIA_LAST}")
    identity.get_by_label(es["date_of_birth"]).fill(LUCIA_BORN.isoformat())
    shot(demo_es, "spanish-identity-1-form")
    assert english_in(chat) == []
    submit.click()
    expect(chat.get_by_test_id("fd-identity-sent")).to_have_text(es["details_sent"])

    otp = chat.get_by_test_id("fd-otp")
    expect(otp).to_be_visible(timeout=BOT_REPLY_MS)
    expect(otp).to_contain_text(es["code_title"])
    expect(otp).to_contain_text(texts.text("identity.code_sent", Language.ES))
    expect(otp.get_by_test_id("fd-otp-submit")).to_have_text(es["confirm"])
    expect(otp.get_by_test_id("fd-otp-retype")).to_have_text(es["retype"])
    code_text = last_code_text(stack, LUCIA_PHONE)
    code = re.findall(r"\b\d{6}\b", code_text)[-1]
    assert code_text == texts.for_sms(texts.text("verification.code_text", Language.ES, code=code))
    assert english_in(chat) == []

    otp.get_by_label(es["code_label"]).fill(f"{(int(code) + 1) % 1_000_000:06d}")
    otp.get_by_test_id("fd-otp-submit").click()
    wrong = chat.get_by_test_id("fd-error").last
    expect(wrong).to_contain_text(texts.text("verification.wrong_code", Language.ES))
    expect(wrong).to_contain_text("le quedan 4 intentos")
    otp = chat.get_by_test_id("fd-otp")
    expect(otp).to_be_visible(timeout=BOT_REPLY_MS)  # the code step again, still in Spanish
    expect(otp).to_contain_text(es["code_title"])
    otp.get_by_label(es["code_label"]).fill(code)
    otp.get_by_test_id("fd-otp-submit").click()

    visits = messages(chat, "bot").filter(has_text="Estas son sus próximas citas")
    expect(visits).to_be_visible(timeout=BOT_REPLY_MS)
    local = start.astimezone(PRACTICE_TZ)
    # "Consulta por enfermedad con Dr. Amara Patel el jue 7 de ene a las 4:00 p. m." (the
    # visit type's name as the demo practice translates it)
    expect(visits).to_contain_text("Consulta por enfermedad con Dr. Amara Patel el ")
    expect(visits).to_contain_text(f" {local.day} de ")
    expect(visits).to_contain_text("a las 4:00 p. m.")
    shot(demo_es, "spanish-identity-2-visits")

    expect(chat.get_by_test_id("fd-input")).to_have_attribute("placeholder", es["placeholder"])
    assert english_in(chat) == []
    panel = chat.get_by_test_id("fd-panel").inner_text()
    assert "1984" not in panel and code not in panel  # nor do the details reach the transcript


def test_reloading_the_page_shows_the_conversation_again(demo: Page) -> None:
    say(chat_of(demo), "are you a bot?")
    expect(messages(chat_of(demo), "bot").last).to_contain_text(
        "virtual assistant", timeout=BOT_REPLY_MS
    )
    shot(demo, "history-1-before-reload")

    demo.reload()
    expect(chat_of(demo).get_by_test_id("fd-panel")).to_be_visible()
    expect(messages(chat_of(demo), "bot")).to_have_count(1, timeout=BOT_REPLY_MS)
    expect(messages(chat_of(demo), "bot")).to_contain_text("virtual assistant")
    expect(messages(chat_of(demo), "patient")).to_have_count(1)
    expect(messages(chat_of(demo), "patient")).to_have_text("are you a bot?")
    roles = (
        chat_of(demo).get_by_test_id("fd-msg").evaluate_all("els => els.map(e => e.dataset.role)")
    )
    assert roles == ["patient", "bot"]
    shot(demo, "history-2-after-reload")
    assert chat_frame(demo).evaluate("() => Object.keys(window.sessionStorage)") == [RESUME_KEY]


def test_patient_text_is_inert_and_host_styles_stay_out(demo: Page) -> None:
    markup = '<img src=x onerror="window.__xss=1"><b>bold</b>'
    say(chat_of(demo), markup)
    expect(messages(chat_of(demo), "patient")).to_have_text(markup)
    expect(messages(chat_of(demo), "bot").first).to_be_visible(
        timeout=BOT_REPLY_MS
    )  # a full round trip
    log = chat_of(demo).get_by_test_id("fd-log")
    expect(log.locator("b, img")).to_have_count(0)
    assert chat_frame(demo).evaluate("() => typeof window.__xss") == "undefined"

    # The same text replayed from the server's history is just as inert.
    demo.reload()
    expect(messages(chat_of(demo), "patient")).to_have_text(markup, timeout=BOT_REPLY_MS)
    expect(log.locator("b, img")).to_have_count(0)
    assert chat_frame(demo).evaluate("() => typeof window.__xss") == "undefined"
    shot(demo, "isolation-inert-text")

    host_button = demo.locator("main button")
    assert host_button.evaluate("b => getComputedStyle(b).backgroundColor") == HOTPINK
    launcher = demo.evaluate(
        f"""() => Array.from({SHADOW}.querySelectorAll('button'), b => {{
            const s = getComputedStyle(b);
            return [b.dataset.testid, s.backgroundColor, s.borderTopStyle, s.color];
        }})"""
    )
    chat_buttons = chat_frame(demo).evaluate(
        f"""() => Array.from({SHADOW}.querySelectorAll('button'), b => {{
            const s = getComputedStyle(b);
            return [b.dataset.testid, s.backgroundColor, s.borderTopStyle, s.color];
        }})"""
    )
    assert {testid for testid, *_ in launcher} == {"fd-launcher"}
    assert {testid for testid, *_ in chat_buttons} >= {"fd-close", "fd-send"}
    for testid, background, border, color in launcher + chat_buttons:
        assert background != HOTPINK, testid
        assert border != "dashed", testid
        assert color != "rgb(255, 255, 0)", testid
    send_background = (
        chat_of(demo).get_by_test_id("fd-send").evaluate("b => getComputedStyle(b).backgroundColor")
    )
    assert send_background == "rgb(26, 93, 122)"  # the widget's --fd-accent
    bubble = messages(chat_of(demo), "patient")
    assert "Georgia" not in bubble.evaluate("e => getComputedStyle(e).fontFamily")
    assert bubble.evaluate("e => getComputedStyle(e).letterSpacing") == "normal"


def test_keyboard_closes_and_reopens_the_panel(demo: Page) -> None:
    panel = chat_of(demo).get_by_test_id("fd-panel")
    launcher = demo.get_by_test_id("fd-launcher")
    composer = chat_of(demo).get_by_test_id("fd-input")

    composer.focus()
    demo.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    shot(demo, "keyboard-1-closed")

    demo.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(composer).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "true")

    demo.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()
    demo.keyboard.press("Space")
    expect(panel).to_be_visible()
    expect(composer).to_be_focused()
    shot(demo, "keyboard-2-reopened")


# --- The widget embedded on another website, against the real service with a bot double (no
# Rasa): allowed origins, a dropped connection, the conversation across page loads, ARIA.


def echo_bot(text: str) -> list[Reply]:
    return [{"text": f"Virtual assistant here. You said: {text}"}]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LiveService]:
    with live_service(tmp_path / "service", echo_bot) as running:
        yield running


@pytest.fixture
def refused_framing() -> list[str]:
    """Chromium's reports of a frame it refused to show (a test that expects them asks)."""
    return []


@pytest.fixture
def patient(
    browser: Browser, request: pytest.FixtureRequest, refused_framing: list[str]
) -> Iterator[Page]:
    """A fresh browser context (own sessionStorage) for a host page on another origin."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(UI_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"uncaught {error!r}"))

    def on_console(message: ConsoleMessage) -> None:
        # Chromium reports each refused reconnect attempt itself; the widget only retries.
        if message.type in ("error", "warning") and "WebSocket connection to" not in message.text:
            refusal = (
                'Content Security Policy directive: "frame-ancestors',
                "allowed widget origins",
            )
            if any(words in message.text for words in refusal):
                refused_framing.append(message.text)
                if "refused_framing" in request.fixturenames:
                    return  # the test expects it, and checks it
            problems.append(f"console.{message.type}: {message.text}")

    page.on("console", on_console)
    failures_before = request.session.testsfailed
    try:
        yield page
        if request.session.testsfailed > failures_before:
            page.screenshot(path=ARTIFACTS / f"FAILED-{request.node.name}.png")
        assert problems == [], "the page logged problems"
    finally:
        context.close()


def test_a_website_the_practice_has_not_allowed_gets_no_chat(
    service: LiveService, patient: Page, refused_framing: list[str]
) -> None:
    with session_scope(make_session_factory(service.engine, clock=system_clock)) as db:
        for origin in ("http://localhost:*", "http://127.0.0.1:*"):
            assert disallow_origin(session=db, practice_id=1, origin=origin)
    sockets: list[str] = []
    frames: list[int] = []
    patient.on("websocket", lambda socket: sockets.append(socket.url))
    patient.on(
        "response",
        lambda response: frames.append(response.status) if "/chat/frame" in response.url else None,
    )
    with host_page(service.base_url) as port:
        patient.goto(f"http://localhost:{port}/")
        expect(patient.get_by_test_id("fd-launcher")).to_have_count(1)
        patient.wait_for_timeout(3000)  # time enough to render and connect, were it allowed
        # The service answered, but the browser refused to show it here (frame-ancestors).
        assert frames == [200]
        blocked, explained = refused_framing
        assert "frame-ancestors 'self'\"" in blocked
        assert "not among the practice's allowed widget origins" in explained
        expect(patient.get_by_test_id("fd-launcher")).to_be_hidden()  # no button to a blank
        expect(chat_of(patient).get_by_test_id("fd-panel")).to_have_count(0)
        assert sockets == []  # no chat ran on this site
        shot(patient, "embedded-origin-refused")
    assert service.bot.turns == []


def test_an_allowed_website_chats_without_ever_holding_the_resume_token(
    service: LiveService, patient: Page
) -> None:
    # Everything the host page could see: messages posted to it and its own storage and DOM.
    patient.add_init_script(
        "window.__seen = []; window.addEventListener('message', "
        "e => window.__seen.push(JSON.stringify(e.data)));"
    )
    tokens: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            frame = json.loads(payload)
            if frame.get("type") == "session":
                tokens.append(frame["resume_token"])

        socket.on("framereceived", on_frame)

    patient.on("websocket", on_socket)
    with host_page(service.base_url) as port:
        # Another site (localhost is not 127.0.0.1): a third-party frame, as on the web.
        patient.goto(f"http://localhost:{port}/")
        chat = chat_of(patient)
        say(chat, "hello")
        expect(messages(chat, "bot").last).to_have_text("Virtual assistant here. You said: hello")
        [token] = tokens
        assert len(token) > 20
        host = patient.evaluate(
            """() => ({
                session: Object.keys(window.sessionStorage),
                local: Object.keys(window.localStorage),
                dom: document.documentElement.outerHTML
                    + document.querySelector('frontdesk-widget').shadowRoot.innerHTML,
                url: window.location.href,
                seen: window.__seen,
                reach: (() => {
                    const f = document.querySelector('frontdesk-widget').shadowRoot
                        .querySelector('iframe');
                    try { return f.contentDocument === null ? 'blocked' : 'open'; }
                    catch (e) { return 'blocked'; }
                })(),
            })"""
        )
        assert host["session"] == [] and host["local"] == []
        assert token not in host["dom"] and token not in host["url"]
        assert host["seen"] and not any(token in message for message in host["seen"])
        assert host["reach"] == "blocked"  # the frame's document is another origin's
        assert "hello" not in "".join(host["seen"])  # nor does chat text reach the host
        shot(patient, "embedded-chat-token-inside-frame")


def test_the_widget_resends_after_a_dropped_connection_and_keeps_the_conversation(
    service: LiveService, patient: Page
) -> None:
    with host_page(service.base_url) as port:
        # Another origin on the same site: Chromium lets the frame keep its storage (it
        # refuses a third-party frame any, see docs/security.md), so a reload resumes.
        patient.goto(f"http://127.0.0.1:{port}/")
        chat = chat_of(patient)
        say(chat, "hello")
        expect(messages(chat, "bot").last).to_have_text("Virtual assistant here. You said: hello")

        service.stop()  # the connection drops, as in a restart or a network cut
        expect(chat.get_by_test_id("fd-status")).to_have_text("Reconnecting…")
        say(chat, "are you still there?")
        expect(chat.get_by_test_id("fd-note")).to_have_text("Waiting to send…")
        shot(patient, "embedded-reconnecting")

        service.start()
        chat_frame(patient).evaluate("() => window.dispatchEvent(new Event('online'))")
        expect(messages(chat, "bot").last).to_have_text(
            "Virtual assistant here. You said: are you still there?"
        )
        expect(chat.get_by_test_id("fd-status")).to_be_hidden()
        assert [text for _, text in service.bot.turns].count("are you still there?") == 1

        patient.reload()  # the same tab: the conversation comes back from the server
        expect(messages(chat, "patient")).to_have_text(["hello", "are you still there?"])
        expect(messages(chat, "bot")).to_have_count(2)
        frame = chat_frame(patient)
        assert frame.evaluate("() => Object.keys(window.sessionStorage)") == [RESUME_KEY]
        assert patient.evaluate("() => Object.keys(window.sessionStorage)") == []
        shot(patient, "embedded-after-reload")


def test_the_panel_is_an_accessible_dialog(service: LiveService, patient: Page) -> None:
    with host_page(service.base_url) as port:
        patient.goto(f"http://localhost:{port}/")
        chat = chat_of(patient)
        panel = chat.get_by_role("dialog", name="Chat with us")
        expect(panel).to_be_visible()
        launcher = patient.get_by_test_id("fd-launcher")
        expect(launcher).to_have_attribute("aria-controls", "fd-frame")
        expect(chat.get_by_role("log", name="Conversation")).to_have_attribute(
            "aria-live", "polite"
        )
        composer = chat.get_by_role("textbox", name="Message")
        composer.focus()
        patient.keyboard.press("Tab")
        expect(chat.get_by_role("button", name="Send")).to_be_focused()
        patient.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        expect(launcher).to_be_focused()
        expect(launcher).to_have_attribute("aria-label", "Open chat")
        patient.keyboard.press("Enter")
        expect(panel).to_be_visible()
        expect(composer).to_be_focused()
        shot(patient, "embedded-accessible-dialog")


def test_the_widget_speaks_the_browser_language_then_the_conversation_s(
    service: LiveService, browser: Browser
) -> None:
    context = browser.new_context(locale="es-MX", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(UI_MS)
    try:
        patient = context.new_page()
        with host_page(service.base_url) as port:
            patient.goto(f"http://localhost:{port}/")
            chat = chat_of(patient)
            composer = chat.get_by_test_id("fd-input")
            expect(composer).to_have_attribute("placeholder", "Escriba su mensaje…")
            expect(chat.get_by_test_id("fd-send")).to_have_text("Enviar")
            expect(chat.get_by_role("dialog", name="Chatee con nosotros")).to_be_visible()
            launcher = patient.get_by_test_id("fd-launcher")
            expect(launcher).to_have_attribute("aria-label", "Cerrar el chat")
            shot(patient, "language-1-spanish-browser")
            # The patient writes in English: the conversation is English, and so is the widget.
            say(chat, "Hello, I would like to book an appointment for next week, please.")
            expect(composer).to_have_attribute("placeholder", "Type your message…")
            expect(chat.get_by_test_id("fd-send")).to_have_text("Send")
            expect(launcher).to_have_attribute("aria-label", "Close chat")
            expect(messages(chat, "bot")).to_have_count(1)
            shot(patient, "language-2-english-conversation")
    finally:
        context.close()
