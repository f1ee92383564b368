"""PHI scrubber: recognizers, engines, the `phi scrub` command and the logging filter."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from frontdesk.phi import PhiLogFilter, logfilter, scrub
from frontdesk.phi.logfilter import install
from frontdesk.phi.recognizers import birth_year_plausible
from frontdesk.phi.scrubber import Scrubber, default_scrubber


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi this is maria gonzalez", "hi this is <PERSON>"),  # adjacent spans merge
        ("this is Bob, call me back", "this is <PERSON>, call me back"),
        ("thanks, jenny", "thanks, <PERSON>"),
        ("dob 4/12/1985", "dob <DATE_OF_BIRTH>"),
        ("born march 3rd 85", "born <DATE_OF_BIRTH>"),
        ("my birthday is 12 April 1990", "my birthday is <DATE_OF_BIRTH>"),
        ("call 555-555-0101 or (555) 555-0123", "call <PHONE_NUMBER> or <PHONE_NUMBER>"),
        ("email jsmith85@gmail.com", "email <EMAIL_ADDRESS>"),
        ("I live at 22 oak street apt 4", "I live at <STREET_ADDRESS>"),
        ("my mrn is 4488123", "my mrn is <MEDICAL_RECORD_NUMBER>"),
        ("member id XGH123456789", "member id <MEMBER_ID>"),
        ("medicare 1EG4-TE5-MK73", "medicare <MEMBER_ID>"),
        ("ssn 123-45-6789", "ssn <US_SSN>"),
        ("card 4111 1111 1111 1111", "card <CREDIT_CARD>"),
    ],
)
def test_each_kind_of_phi_is_replaced(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "can i reschedule to next tue after 3",
        "book me with dr patel on friday at 10:30",
        "Earliest appointment with Dr Nguyen please",
        "any openings on 12/15",
        "do you take aetna",
        "card ending 4111 1111 1111 1112",  # fails the Luhn check: not a card number
        "I'm running late",
        # Sign-offs after "thanks" (found by the scale test: "thanks, bye" reached the bot
        # as "thanks, PHI_NAME_1", so it offered a booking instead of saying goodbye).
        "thanks, bye",
        "ok thanks bye!",
        "thanks so much",
        "thanks everyone",
        "gracias, adios",
    ],
)
def test_booking_words_times_and_clinician_names_are_kept(text: str) -> None:
    assert scrub(text) == text


def test_a_date_with_this_years_date_is_an_appointment_not_a_birth_date() -> None:
    from datetime import date

    today = date(2026, 11, 28)
    assert birth_year_plausible("4/12/1985", today=today)
    assert birth_year_plausible("04-12-85", today=today)
    assert not birth_year_plausible("12/15/2026", today=today)


def test_the_accurate_engine_adds_names_the_gazetteer_does_not_know() -> None:
    accurate = default_scrubber("accurate")
    assert "Zbigniew" not in accurate.scrub("Please ask Zbigniew Brzezinski to call me")
    assert accurate.scrub("earliest with Dr Patel please") == "earliest with Dr Patel please"


def test_the_email_recognizer_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert Scrubber(mode="fast").scrub("mail me at a.b@example.org") == "mail me at <EMAIL_ADDRESS>"


def test_empty_emoji_and_long_text_are_handled() -> None:
    assert scrub("") == ""
    assert scrub("👍🏽") == "👍🏽"
    long = "where do I park? " * 300 + "dob 4/12/1985"
    assert scrub(long).endswith("dob <DATE_OF_BIRTH>")


def test_phi_scrub_command_scrubs_each_stdin_line() -> None:
    from frontdesk.cli import app

    result = CliRunner().invoke(
        app, ["phi", "scrub"], input="this is maria gonzalez\ndo you take aetna\n"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "this is <PERSON>\ndo you take aetna\n"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.phi.capture")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    install(logger)
    yield logger, stream, handler
    logger.removeHandler(handler)


def test_log_filter_scrubs_messages_arguments_and_tracebacks(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = captured
    logger.info("message from %s born %s", "maria gonzalez", "4/12/1985")
    try:
        raise ValueError("bad phone 555-555-0101")
    except ValueError:
        logger.exception("failed for jsmith85@gmail.com")
    written = stream.getvalue()
    for secret in ("gonzalez", "4/12/1985", "555-555-0101", "jsmith85"):
        assert secret not in written
    assert "<PERSON>" in written and "Traceback" in written and "ValueError" in written


def test_log_filter_is_installed_once_per_handler(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, _, handler = captured
    install(logger)
    assert sum(isinstance(f, PhiLogFilter) for f in handler.filters) == 1


def test_frontdesk_logs_installs_the_filter_on_root_handlers() -> None:
    from frontdesk.logs import install_phi_filter

    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        install_phi_filter()
        assert any(isinstance(f, PhiLogFilter) for f in handler.filters)
    finally:
        root.removeHandler(handler)


def test_records_written_while_scrubbing_are_withheld_not_recursed(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logger, stream, _ = captured
    real_scrub = scrub  # the function the log filter imported

    def noisy_scrub(text: str) -> str:
        logger.info("library chatter about maria gonzalez")  # as presidio may log mid-scrub
        return real_scrub(text)

    monkeypatch.setattr(logfilter, "scrub", noisy_scrub)  # what the log filter calls
    logger.info("outer message for %s", "maria gonzalez")
    written = stream.getvalue()
    assert "gonzalez" not in written
    assert "outer message for <PERSON>" in written
    assert "withheld" in written
