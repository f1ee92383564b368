"""Patient identity matching and registration."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation, Role
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.language import Language
from frontdesk.models import Patient, Practice
from frontdesk.patients import guessing, sms_verification, verification
from frontdesk.patients.models import VerificationAttempt, VerificationCode
from frontdesk.patients.service import (
    AmbiguousIdentityError,
    InvalidIdentityError,
    find_or_register_patient,
    match_key,
)
from frontdesk.sms.consent import record_consent
from frontdesk.sms.models import OutboundSms
from tests import factories
from tests.conftest import AT_NOW, NOW, empty_database

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Jordan Sample", "jordan sample"),
        ("  JORDAN   sample ", "jordan sample"),
        ("José O'Neil-Smith", "jose o neil smith"),
        ("jordan.sample", "jordan sample"),
        ("Мария Иванова", "мария иванова"),
        ("王 小明", "王 小明"),
        ("Zoë  Ångström", "zoe angstrom"),
    ],
)
def test_names_are_normalised_for_matching(raw: str, key: str) -> None:
    assert match_key(raw) == key


def test_existing_patient_is_matched_and_a_new_one_registered(
    session: Session, practice: Practice
) -> None:
    found, created = find_or_register_patient(
        session=session,
        practice_id=practice.id,
        full_name="jordan sample",
        date_of_birth=date(1985, 4, 12),
        today=TODAY,
    )
    assert (found.last_name, created) == ("Sample", False)
    new, created = find_or_register_patient(
        session=session,
        practice_id=practice.id,
        full_name="Avery Newcomer",
        date_of_birth=date(2001, 2, 3),
        today=TODAY,
    )
    assert created and (new.first_name, new.last_name) == ("Avery", "Newcomer")
    # Same name, other birthday: another person, not a match.
    other, created = find_or_register_patient(
        session=session,
        practice_id=practice.id,
        full_name="Jordan Sample",
        date_of_birth=date(1985, 4, 13),
        today=TODAY,
    )
    assert created and other.id != found.id


@pytest.mark.parametrize(
    ("name", "dob"),
    [
        ("", date(1990, 1, 1)),
        ("Cher", date(1990, 1, 1)),
        ("🙂 🙂", date(1990, 1, 1)),
        ("Jordan Sample", date(2027, 1, 1)),
        ("Jordan Sample", date(1880, 1, 1)),
        ("x" * 101 + " y", date(1990, 1, 1)),
    ],
)
def test_impossible_identities_are_refused(
    session: Session, practice: Practice, name: str, dob: date
) -> None:
    with pytest.raises(InvalidIdentityError):
        find_or_register_patient(
            session=session,
            practice_id=practice.id,
            full_name=name,
            date_of_birth=dob,
            today=TODAY,
        )


def test_names_in_other_scripts_can_register(session: Session, practice: Practice) -> None:
    for name in ("Мария Иванова", "王小明"):
        patient, created = find_or_register_patient(
            session=session,
            practice_id=practice.id,
            full_name=name,
            date_of_birth=date(1980, 5, 6),
            today=TODAY,
        )
        assert created and patient.match_key == match_key(name)


def test_two_records_with_the_same_details_are_not_guessed_between(
    session: Session, practice: Practice
) -> None:
    for _ in range(2):
        factories.patient(
            session,
            practice=practice,
            first_name="Sam",
            last_name="Twin",
            date_of_birth=date(2000, 1, 1),
            phone=None,
        )
    with pytest.raises(AmbiguousIdentityError):
        find_or_register_patient(
            session=session,
            practice_id=practice.id,
            full_name="Sam Twin",
            date_of_birth=date(2000, 1, 1),
            today=TODAY,
        )


# --- Identity verification (frontdesk/patients/verification.py) ---------------------------


class RecordingCodeSender:
    """Stands in for the SMS outbox: keeps what would have been texted."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, str]] = []
        self.languages: list[Language] = []

    def send_code(
        self, *, session: Session, practice_id: int, phone: str, code: str, language: Language
    ) -> None:
        self.sent.append((practice_id, phone, code))
        self.languages.append(language)


def _conversation(session: Session, practice: Practice, channel: Channel) -> Conversation:
    convo, _ = conversations.start_conversation(session=session, practice=practice, channel=channel)
    return convo


REQUESTER = verification.Requester(secret="test-secret", client_key="client-a")


def _start(
    session: Session,
    convo: Conversation,
    sender: RecordingCodeSender,
    *,
    name: str = "Jordan Sample",
    born: date = date(1985, 4, 12),
    now: datetime = NOW,
    requester: verification.Requester = REQUESTER,
    purpose: verification.Purpose = "verify",
) -> verification.WebChallenge:
    return verification.start_web_verification(
        session=session,
        conversation=convo,
        full_name=name,
        date_of_birth=born,
        now=now,
        sender=sender,
        requester=requester,
        purpose=purpose,
    )


def test_a_right_code_verifies_and_only_a_hash_is_stored(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.WEBCHAT)
    sender = RecordingCodeSender()
    challenge = _start(session, convo, sender)
    assert challenge == verification.WebChallenge("code_sent")
    ((practice_id, phone, code),) = sender.sent
    assert (practice_id, phone) == (practice.id, "+15555550101")
    assert len(code) == 6 and code.isdigit()
    row = session.scalars(select(VerificationCode)).one()
    assert code not in (row.code_hash, row.code_salt) and len(row.code_hash) == 64
    assert row.expires_at - NOW == timedelta(minutes=10)
    assert not verification.is_verified(session=session, conversation=convo, now=NOW)
    result = verification.check_web_code(session=session, conversation=convo, code=code, now=NOW)
    assert result.status == "verified"
    assert verification.is_verified(session=session, conversation=convo, now=NOW)
    patient = session.get_one(Patient, convo.patient_id)
    assert patient.last_name == "Sample"
    # Used once: the same code cannot verify again.
    again = verification.check_web_code(session=session, conversation=convo, code=code, now=NOW)
    assert again.status == "expired"
    # Verification lapses after a while; the bot then asks again.
    later = NOW + verification.VERIFIED_FOR + timedelta(minutes=1)
    assert not verification.is_verified(session=session, conversation=convo, now=later)


def test_five_wrong_codes_lock_and_the_right_one_no_longer_works(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.WEBCHAT)
    sender = RecordingCodeSender()
    _start(session, convo, sender)
    code = sender.sent[0][2]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    left = []
    for _ in range(4):
        result = verification.check_web_code(
            session=session, conversation=convo, code=wrong, now=NOW
        )
        assert result.status == "wrong_code"
        left.append(result.attempts_left)
    assert left == [4, 3, 2, 1]
    assert "1 try left" in result.message(Language.EN)
    fifth = verification.check_web_code(session=session, conversation=convo, code=wrong, now=NOW)
    assert fifth.status == "locked"
    right = verification.check_web_code(session=session, conversation=convo, code=code, now=NOW)
    assert right.status == "locked"
    assert convo.patient_id is None
    # Locked for the conversation: no new code is sent either.
    assert _start(session, convo, sender).status == "locked"
    assert len(sender.sent) == 1


def test_an_expired_code_is_refused(session: Session, practice: Practice) -> None:
    convo = _conversation(session, practice, Channel.WEBCHAT)
    sender = RecordingCodeSender()
    _start(session, convo, sender)
    code = sender.sent[0][2]
    late = NOW + timedelta(minutes=10)
    result = verification.check_web_code(session=session, conversation=convo, code=code, now=late)
    assert result.status == "expired"
    assert convo.identity_verified_at is None


def test_unknown_details_count_towards_the_lock_and_no_code_is_sent(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.WEBCHAT)
    sender = RecordingCodeSender()
    statuses = [_start(session, convo, sender, born=date(1985, 4, day)).status for day in (1, 2, 3)]
    # Answered as a match would be (the caller cannot tell), but nothing is texted.
    assert statuses == ["code_sent", "code_sent", "code_sent"]
    assert sender.sent == []
    # Even the right details are refused within the hour, and allowed again after it.
    assert _start(session, convo, sender).status == "locked"
    assert _start(session, convo, sender, now=NOW + timedelta(hours=1, minutes=1)).status == (
        "code_sent"
    )
    assert len(sender.sent) == 1
    # Another conversation is not affected by this one's lock.
    other = _conversation(session, practice, Channel.WEBCHAT)
    assert _start(session, other, sender).status == "code_sent"


def test_impossible_details_are_refused_without_counting(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.WEBCHAT)
    sender = RecordingCodeSender()
    for _ in range(4):
        with pytest.raises(InvalidIdentityError):
            _start(session, convo, sender, born=date(2999, 1, 1))
    assert _start(session, convo, sender).status == "code_sent"


def test_no_phone_on_file_and_code_flooding(session: Session, practice: Practice) -> None:
    convo = _conversation(session, practice, Channel.WEBCHAT)
    sender = RecordingCodeSender()
    factories.patient(
        session,
        practice=practice,
        first_name="Avery",
        last_name="Nophone",
        date_of_birth=date(1970, 2, 2),
        phone=None,
    )
    # No phone on file: the usual answer, and nothing to text.
    nophone = _start(session, convo, sender, name="Avery Nophone", born=date(1970, 2, 2))
    assert nophone.status == "code_sent" and sender.sent == []
    convo = _conversation(session, practice, Channel.WEBCHAT)
    statuses = [_start(session, convo, sender).status for _ in range(4)]
    assert statuses == ["code_sent", "code_sent", "code_sent", "locked"]
    # A new code replaces the previous one: only the latest works.
    first, last = sender.sent[0][2], sender.sent[-1][2]
    if first != last:
        stale = verification.check_web_code(
            session=session, conversation=convo, code=first, now=NOW
        )
        assert stale.status == "wrong_code"
    fresh = verification.check_web_code(session=session, conversation=convo, code=last, now=NOW)
    assert fresh.status == "verified"


def test_one_name_is_counted_over_every_chat_and_address(
    session: Session, practice: Practice
) -> None:
    """A search for Jordan's birthday from many chats and addresses stops at the name's cap."""
    sender = RecordingCodeSender()
    ((most, _window),) = guessing.IDENTITY_CHECK_LIMITS
    for n in range(most):
        convo = _conversation(session, practice, Channel.WEBCHAT)
        elsewhere = verification.Requester(secret="test-secret", client_key=f"client-{n}")
        born = date(1985, 1, 1) + timedelta(days=n)
        assert _start(session, convo, sender, born=born, requester=elsewhere).status == "code_sent"
    convo = _conversation(session, practice, Channel.WEBCHAT)
    fresh = verification.Requester(secret="test-secret", client_key="client-new")
    assert _start(session, convo, sender, requester=fresh).status == "locked"
    assert sender.sent == []
    # Other names are not affected; the name is free again a day later.
    other = _conversation(session, practice, Channel.WEBCHAT)
    casey = _start(session, other, sender, name="Casey Example", born=date(1990, 9, 30))
    assert casey.status == "code_sent"
    later = NOW + timedelta(days=1, minutes=1)
    convo = _conversation(session, practice, Channel.WEBCHAT)
    assert _start(session, convo, sender, requester=fresh, now=later).status == "code_sent"
    rows = session.scalars(select(VerificationAttempt.identity_key)).all()
    assert all(key and "jordan" not in key for key in rows)  # keyed hashes, no names


def test_codes_are_capped_per_patient_per_day(session: Session, practice: Practice) -> None:
    sender = RecordingCodeSender()
    for n in range(verification.MAX_CODES_PER_PATIENT_PER_DAY):
        at = NOW + timedelta(hours=2 * n)  # under the hourly cap
        convo = _conversation(session, practice, Channel.WEBCHAT)
        client = verification.Requester(secret="test-secret", client_key=f"c{n}")
        assert _start(session, convo, sender, now=at, requester=client).status == "code_sent"
    assert len(sender.sent) == verification.MAX_CODES_PER_PATIENT_PER_DAY
    at = NOW + timedelta(hours=20)
    convo = _conversation(session, practice, Channel.WEBCHAT)
    stranger = verification.Requester(secret="test-secret", client_key="stranger")
    # A stranger at the cap gets the usual answer (no hint that Jordan is a patient), no text.
    assert _start(session, convo, sender, now=at, requester=stranger).status == "code_sent"
    assert len(sender.sent) == verification.MAX_CODES_PER_PATIENT_PER_DAY
    assert session.get_one(VerificationCode, _latest_code_id(session)).patient_id is None
    # The day after the first code, one may be sent again.
    convo = _conversation(session, practice, Channel.WEBCHAT)
    tomorrow = NOW + timedelta(days=1, minutes=1)
    assert _start(session, convo, sender, now=tomorrow, requester=stranger).status == "code_sent"
    assert len(sender.sent) == verification.MAX_CODES_PER_PATIENT_PER_DAY + 1


def test_the_patient_at_the_cap_is_told_when_to_try_again(
    session: Session, practice: Practice
) -> None:
    sender = RecordingCodeSender()
    for n in range(verification.MAX_CODES_PER_PATIENT_PER_WINDOW):
        convo = _conversation(session, practice, Channel.WEBCHAT)
        at = NOW + timedelta(minutes=10 * n)
        assert _start(session, convo, sender, now=at).status == "code_sent"
        code = sender.sent[-1][2]
        result = verification.check_web_code(
            session=session, conversation=convo, code=code, now=at, requester=REQUESTER
        )
        assert result.status == "verified"
    convo = _conversation(session, practice, Channel.WEBCHAT)
    at = NOW + timedelta(minutes=50)
    challenge = _start(session, convo, sender, now=at)
    assert challenge == verification.WebChallenge("code_limit", retry_at=NOW + timedelta(hours=1))


def _latest_code_id(session: Session) -> int:
    return (
        session.scalars(select(VerificationCode.id).order_by(VerificationCode.id.desc())).first()
        or 0
    )


def test_registrations_are_limited_per_address_and_per_practice(
    session: Session, practice: Practice
) -> None:
    sender = RecordingCodeSender()

    def register(n: int, client: str) -> str:
        convo = _conversation(session, practice, Channel.WEBCHAT)
        requester = verification.Requester(secret="test-secret", client_key=client)
        name = "New " + "".join(chr(97 + int(d)) for d in f"{n:03d}") + "son"
        return _start(session, convo, sender, name=name, requester=requester, purpose="book").status

    ((per_address, _),) = guessing.CLIENT_REGISTRATION_LIMITS
    assert [register(n, "home") for n in range(per_address + 1)] == ["registered"] * per_address + [
        "registration_limited"
    ]
    ((per_practice, _),) = guessing.PRACTICE_REGISTRATION_LIMITS
    statuses = [register(100 + n, f"addr-{n}") for n in range(per_practice)]
    assert statuses.count("registered") == per_practice - per_address
    assert statuses[-1] == "registration_limited"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("04/12/1985", date(1985, 4, 12)),
        ("my dob is 4/12/85", date(1985, 4, 12)),
        ("1985-04-12", date(1985, 4, 12)),
        ("April 12, 1985", date(1985, 4, 12)),
        ("12th april 1985", date(1985, 4, 12)),
        ("4.12.1985", date(1985, 4, 12)),
        ("01/05/20", date(2020, 1, 5)),
        ("13/40/1985", None),
        ("12/01/2999", None),
        ("yes", None),
        ("🙂" * 500, None),
    ],
)
def test_dates_of_birth_are_read_from_sms_replies(text: str, expected: date | None) -> None:
    assert verification.parse_date_of_birth(text, today=TODAY) == expected


def _identity_request(session: Session, convo: Conversation, purpose: str) -> None:
    """The bot's identity request, stored as the SMS channel stores it."""
    conversations.record_outgoing_message(
        session=session,
        conversation=convo,
        role=Role.BOT,
        text=None,
        custom={"type": "identity_request", "purpose": purpose, "channel": "sms"},
    )


def _sms_check(
    session: Session,
    convo: Conversation,
    text: str,
    sender: RecordingCodeSender,
    *,
    number: str = "+15555550101",
    now: datetime = NOW,
) -> sms_verification.SmsVerdict:
    return sms_verification.check_sms_identity(
        session=session, conversation=convo, from_number=number, text=text, now=now, sender=sender
    )


def test_sms_identity_needs_the_number_on_file_the_date_of_birth_and_a_texted_code(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.SMS)
    _identity_request(session, convo, "verify")
    sender = RecordingCodeSender()

    unreadable = _sms_check(session, convo, "what?", sender)
    assert unreadable.status == "unreadable" and "date of birth" in unreadable.answer
    mismatch = _sms_check(session, convo, "09/30/1990", sender)  # Casey's birthday, Jordan's phone
    assert mismatch.status == "mismatch" and "2 tries left" in mismatch.answer
    assert _sms_check(session, convo, "04/12/1985", sender, number="+15555550199").status == (
        "mismatch"  # not on file
    )
    assert sender.sent == []
    matched = _sms_check(session, convo, "April 12 1985", sender, number="+1 (555) 555-0101")
    # Number and birthday alone prove nothing (the number can be spoofed): a code goes to
    # the phone on file, and nothing is revealed until it comes back.
    assert matched.status == "code_sent"
    [(_, phone, code)] = sender.sent
    assert phone == "+15555550101"
    assert not verification.is_verified(session=session, conversation=convo, now=NOW)
    assert convo.patient_id is None
    assert _sms_check(session, convo, "what code?", sender).status == "unreadable"
    wrong = "000000" if code != "000000" else "111111"
    assert _sms_check(session, convo, wrong, sender).status == "wrong_code"
    assert _sms_check(session, convo, f"it's {code}", sender).status == "verified"
    assert verification.is_verified(session=session, conversation=convo, now=NOW)
    assert session.get_one(Patient, convo.patient_id).first_name == "Jordan"


def test_sms_identity_for_booking_identifies_without_verifying(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.SMS)
    _identity_request(session, convo, "book")
    sender = RecordingCodeSender()
    assert _sms_check(session, convo, "04/12/1985", sender).status == "identified"
    assert sender.sent == []
    assert convo.patient_id is not None  # enough to book a visit
    assert not verification.is_verified(session=session, conversation=convo, now=NOW)


def test_sms_codes_lock_after_five_wrong_ones(session: Session, practice: Practice) -> None:
    convo = _conversation(session, practice, Channel.SMS)
    _identity_request(session, convo, "verify")
    sender = RecordingCodeSender()
    assert _sms_check(session, convo, "04/12/1985", sender).status == "code_sent"
    [(_, _, code)] = sender.sent
    wrong = "000000" if code != "000000" else "111111"
    statuses = [_sms_check(session, convo, wrong, sender).status for _ in range(5)]
    assert statuses == ["wrong_code"] * 4 + ["locked"]
    assert _sms_check(session, convo, code, sender).status == "locked"
    assert _sms_check(session, convo, "04/12/1985", sender).status == "locked"
    assert convo.patient_id is None


def test_an_expired_sms_code_asks_for_the_date_of_birth_again(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.SMS)
    _identity_request(session, convo, "verify")
    sender = RecordingCodeSender()
    assert _sms_check(session, convo, "04/12/1985", sender).status == "code_sent"
    late = NOW + verification.CODE_LIFETIME + timedelta(seconds=1)
    expired = _sms_check(session, convo, sender.sent[-1][2], sender, now=late)
    assert expired.status == "expired" and "date of birth" in expired.answer
    assert not verification.is_verified(session=session, conversation=convo, now=late)
    assert _sms_check(session, convo, "04/12/1985", sender, now=late).status == "code_sent"
    assert _sms_check(session, convo, sender.sent[-1][2], sender, now=late).status == "verified"


def test_sms_codes_respect_the_per_patient_cap(session: Session, practice: Practice) -> None:
    sender = RecordingCodeSender()
    statuses = []
    for _ in range(verification.MAX_CODES_PER_PATIENT_PER_WINDOW + 1):
        convo = _conversation(session, practice, Channel.SMS)
        _identity_request(session, convo, "verify")
        statuses.append(_sms_check(session, convo, "04/12/1985", sender).status)
    assert statuses[-1] == "code_limit"
    assert len(sender.sent) == verification.MAX_CODES_PER_PATIENT_PER_WINDOW


def test_sms_identity_locks_after_three_failures(session: Session, practice: Practice) -> None:
    convo = _conversation(session, practice, Channel.SMS)
    _identity_request(session, convo, "verify")
    sender = RecordingCodeSender()
    results = [_sms_check(session, convo, "01/01/2000", sender).status for _ in range(3)]
    assert results == ["mismatch", "mismatch", "locked"]
    assert _sms_check(session, convo, "04/12/1985", sender).status == "locked"
    assert convo.patient_id is None
    assert sender.sent == []


def test_booking_links_an_existing_patient_only_after_the_code(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.WEBCHAT)
    sender = RecordingCodeSender()
    challenge = verification.identify_for_booking(
        session=session,
        conversation=convo,
        full_name="Jordan Sample",
        date_of_birth=date(1985, 4, 12),
        now=NOW,
        sender=sender,
        requester=REQUESTER,
    )
    assert challenge.status == "code_sent" and convo.patient_id is None
    code = sender.sent[0][2]
    result = verification.check_web_code(session=session, conversation=convo, code=code, now=NOW)
    assert result.status == "verified" and convo.patient_id is not None
    # A new patient registers with name and date of birth, and owns that fresh record.
    other = _conversation(session, practice, Channel.WEBCHAT)
    registered = verification.identify_for_booking(
        session=session,
        conversation=other,
        full_name="Morgan Newcomer",
        date_of_birth=date(2001, 6, 1),
        now=NOW,
        sender=sender,
        requester=REQUESTER,
    )
    assert registered.status == "registered" and len(sender.sent) == 1
    assert verification.is_verified(session=session, conversation=other, now=NOW)


def test_the_default_sender_texts_the_code_through_the_outbox(
    session: Session, practice: Practice
) -> None:
    convo = _conversation(session, practice, Channel.WEBCHAT)
    challenge = verification.start_web_verification(
        session=session,
        conversation=convo,
        full_name="Jordan Sample",
        date_of_birth=date(1985, 4, 12),
        now=NOW,
        sender=verification.SmsCodeSender(),
        requester=REQUESTER,
    )
    assert challenge.status == "code_sent"
    sms = session.scalars(select(OutboundSms).where(OutboundSms.kind == "otp")).one()
    assert sms.to_phone == "+15555550101"
    code = "".join(ch for ch in sms.body if ch.isdigit())[:6]
    result = verification.check_web_code(session=session, conversation=convo, code=code, now=NOW)
    assert result.status == "verified"


def test_a_number_that_opted_out_gets_no_code(session: Session, practice: Practice) -> None:
    record_consent(
        session=session,
        practice_id=practice.id,
        phone="+15555550101",
        opted_out=True,
        keyword="STOP",
        now=NOW,
    )
    convo = _conversation(session, practice, Channel.WEBCHAT)
    challenge = verification.start_web_verification(
        session=session,
        conversation=convo,
        full_name="Jordan Sample",
        date_of_birth=date(1985, 4, 12),
        now=NOW,
        sender=verification.SmsCodeSender(),
        requester=REQUESTER,
    )
    # The usual answer (a stranger must not learn the number opted out), and no text.
    assert challenge.status == "code_sent"
    assert session.scalars(select(OutboundSms)).all() == []
    assert (
        verification.check_web_code(
            session=session, conversation=convo, code="000000", now=NOW
        ).status
        == "wrong_code"
    )


@pytest.mark.postgres
def test_wrong_codes_guessed_at_the_same_moment_all_count(engine: Engine) -> None:
    """Two sockets of one conversation guessing at once: each wrong guess counts."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    empty_database(engine)
    sessions = make_session_factory(engine, clock=AT_NOW)
    sender = RecordingCodeSender()
    try:
        with session_scope(sessions) as session:
            practice = seed_demo(session)
            convo = _conversation(session, practice, Channel.WEBCHAT)
            assert _start(session, convo, sender).status == "code_sent"
            convo_id = convo.id
        wrong = f"{(int(sender.sent[0][2]) + 1) % 1_000_000:06d}"

        def guess(session: Session) -> str:
            conversation = session.get_one(Conversation, convo_id)
            return verification.check_web_code(
                session=session, conversation=conversation, code=wrong, now=NOW
            ).status

        first = sessions()
        try:
            assert guess(first) == "wrong_code"  # flushed, not committed yet
            with ThreadPoolExecutor(max_workers=1) as pool:
                second = pool.submit(lambda: _in_own_transaction(sessions, guess))
                _wait_until_someone_waits_for_a_lock(engine)
                first.commit()
                assert second.result(timeout=30) == "wrong_code"
        finally:
            first.close()
        with session_scope(sessions) as session:
            assert session.scalars(select(VerificationCode)).one().wrong_attempts == 2
    finally:
        empty_database(engine)


def _in_own_transaction(sessions: sessionmaker[Session], work: Callable[[Session], str]) -> str:
    with session_scope(sessions) as session:
        return work(session)


def _wait_until_someone_waits_for_a_lock(engine: Engine) -> None:
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as connection:
        for _ in range(1000):
            if connection.execute(waiting).scalar_one():
                return
            threading.Event().wait(0.01)
    raise AssertionError("the second guess never waited for the first")
