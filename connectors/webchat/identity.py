"""Identity and one-time-code frames: how the web chat learns who the patient is.

Identity never passes through Rasa. The bot asks with a custom `identity_request` whose
"purpose" the service reads from its own stored copy (never from the client), and only the
latest request counts, while it is open: not yet answered, and no patient message since.
- "verify" (before appointments are shown or changed) and "book" alike: name + date of
  birth; if they match a record, a one-time code is texted to the phone on file. Whether
  they matched is never said: the widget gets the same `otp_request` either way ("if we have
  a record, we've texted a code"), with no phone digits. A right code links the record and
  sends Rasa "/identity_provided"; a wrong one gets an `otp_wrong` error and a new
  `otp_request`; an expired one (`otp_expired`) a new `identity_request`.
- "book" with details that match no record registers a new patient (limited per address and
  per practice) and sends "/identity_provided" at once.
When verification locks (too many checks or wrong codes), or no more records may be
registered from here, the widget gets `identity_locked` / `identity_registration_limited`
and Rasa gets "/identity_failed" (the bot escalates). A patient who was sent as many codes
as allowed, from an address that verified as them before, gets `identity_code_limit` with
the time they can try again.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import WebSocket
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from connectors.webchat.protocol import (
    ChatSession,
    FrameError,
    ack_frame,
    client_id_of,
    current_conversation,
    error_frame,
)
from frontdesk import texts
from frontdesk.conversations import service as conversations
from frontdesk.conversations import turn_queue
from frontdesk.conversations.models import Conversation, Message, Owner, Role
from frontdesk.conversations.turns import IDENTITY_FAILED, IDENTITY_PROVIDED
from frontdesk.language import Language
from frontdesk.patients import verification
from frontdesk.patients.service import InvalidIdentityError
from frontdesk.practices.models import Practice
from frontdesk.runtime import Services

_OTP = re.compile(r"\d{6}")


class _InvalidIdentity(Exception):
    """Identity details that cannot be right, with the answer in the chat's language."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


# Catalogue keys (frontdesk.texts); every answer is in the conversation's language.
CODE_SENT = "identity.code_sent"
REGISTRATION_LIMITED = "identity.registration_limited"


def _open_request(db: Session, conversation: Conversation) -> Message | None:
    """The bot's latest identity request, if it is still open; None otherwise.

    An identity frame nobody asked for is refused, so a script cannot register patients or
    tell the bot "identity provided" at will. Only the latest request counts, and only until
    it was answered or the patient wrote since (the conversation has moved on).
    """
    recent = db.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.role == Role.BOT)
        .order_by(Message.id.desc())
        .limit(20)
    )
    request = next((m for m in recent if _request_of(m) is not None), None)
    if request is None or (_request_of(request) or {}).get("answered"):
        return None
    written_since = db.scalar(
        select(Message.id)
        .where(
            Message.conversation_id == conversation.id,
            Message.role == Role.PATIENT,
            Message.id > request.id,
        )
        .limit(1)
    )
    return None if written_since is not None else request


def _request_of(message: Message) -> dict[str, Any] | None:
    custom = (message.payload or {}).get("custom")
    if isinstance(custom, dict) and custom.get("type") == "identity_request":
        return custom
    return None


def _mark_answered(db: Session, conversation: Conversation) -> None:
    """Close the open identity request: it was answered, so it cannot be answered again."""
    request = _open_request(db, conversation)
    if request is not None:
        payload = dict(request.payload or {})
        payload["custom"] = {**payload["custom"], "answered": True}
        request.payload = payload  # a new dict, so the JSON column sees the change
        db.flush()


def _code_sender(websocket: WebSocket) -> verification.CodeSender:
    """The app's code sender (tests and sandboxes set `app.state.code_sender`), else SMS."""
    sender: verification.CodeSender | None = getattr(websocket.app.state, "code_sender", None)
    return sender or verification.SmsCodeSender()


def requester_of(services: Services, session: ChatSession) -> verification.Requester:
    """Who is asking, for the guessing limits: the socket's keyed client address."""
    return verification.Requester(
        secret=services.settings.secret_key.get_secret_value(), client_key=session.client_key
    )


def _otp_request(attempts_left: int | None, language: Language) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "otp_request", "reason": texts.text(CODE_SENT, language)}
    if attempts_left is not None:
        frame["attempts_left"] = attempts_left
    return frame


def try_again_at(
    retry_at: datetime, *, now: datetime, tz: ZoneInfo, language: Language = Language.EN
) -> str:
    """ "after 4:05 PM" or "tomorrow after 9:30 AM", in the practice's time zone."""
    local = retry_at.astimezone(tz)
    clock = texts.clock(local, language)
    days = (local.date() - now.astimezone(tz).date()).days
    if days == 0:
        return texts.text("date.after", language, clock=clock)
    if days == 1:
        return texts.text("date.tomorrow_after", language, clock=clock)
    return texts.text(
        "date.on_day_after",
        language,
        weekday=texts.weekday_name(local, language),
        month=texts.month_name(local, language),
        day=local.day,
        clock=clock,
    )


def _identity_verdict(status: str) -> str | None:
    """The turn the bot gets for an identity frame's outcome; None while a code is awaited."""
    if status == "registered":
        return IDENTITY_PROVIDED
    if status in ("code_sent", "code_limit"):
        return None
    return IDENTITY_FAILED  # locked, or registrations limited


def _code_verdict(status: str) -> str | None:
    """The turn the bot gets for a code's outcome; None while the patient may try again."""
    if status == "verified":
        return IDENTITY_PROVIDED
    if status in ("wrong_code", "expired"):
        return None
    return IDENTITY_FAILED


async def handle_identity(
    services: Services, websocket: WebSocket, session: ChatSession, frame: dict[str, Any]
) -> None:
    """Answer an `identity` frame: text a code if the details match, or register (booking)."""
    client_id = client_id_of(frame)
    full_name = frame.get("full_name")
    raw_dob = frame.get("date_of_birth")
    if not isinstance(full_name, str) or not isinstance(raw_dob, str):
        raise FrameError("identity_invalid", "identity.enter_name_and_birth")
    try:
        dob = date.fromisoformat(raw_dob)
    except ValueError as exc:
        raise FrameError("identity_invalid", "identity.enter_valid_birth") from exc
    sender = _code_sender(websocket)
    requester = requester_of(services, session)

    def identify() -> tuple[verification.WebChallenge, str, Language]:
        with services.unit_of_work() as db:
            conversation = current_conversation(db, session)
            language = conversations.reply_language(session=db, conversation=conversation)
            request = _open_request(db, conversation)
            if request is None:
                raise FrameError("identity_unexpected", "identity.not_asked_yet", client_id)
            wanted = (_request_of(request) or {}).get("purpose")
            purpose: verification.Purpose = "verify" if wanted == "verify" else "book"
            now = services.clock()
            try:
                challenge = verification.start_web_verification(
                    session=db,
                    conversation=conversation,
                    full_name=full_name,
                    date_of_birth=dob,
                    now=now,
                    sender=sender,
                    requester=requester,
                    purpose=purpose,
                )
            except InvalidIdentityError as exc:
                raise _InvalidIdentity(texts.text(exc.key, language)) from exc
            if challenge.status == "registered":
                _mark_answered(db, conversation)
            verdict = _identity_verdict(challenge.status)
            if verdict is not None and conversation.owner is Owner.BOT:
                # Staff who own the conversation see the link in their console instead.
                turn_queue.enqueue_turn(session=db, conversation=conversation, text=verdict)
            when = ""
            if challenge.retry_at is not None:
                tz = ZoneInfo(db.get_one(Practice, conversation.practice_id).timezone)
                when = try_again_at(challenge.retry_at, now=now, tz=tz, language=language)
            return challenge, when, language

    try:
        challenge, when, language = await run_in_threadpool(identify)
    except _InvalidIdentity as exc:
        await websocket.send_json(error_frame("identity_invalid", exc.answer, client_id))
        await websocket.send_json({"type": "identity_request", "reason": exc.answer})
        return
    if client_id:
        await websocket.send_json(ack_frame(client_id))
    if challenge.status == "code_sent":
        await websocket.send_json(_otp_request(None, language))
        return
    if challenge.status == "registered":
        services.wake_turns()  # the verdict is queued for the bot
        return
    if challenge.status == "code_limit":
        # Only an address that verified as this patient before hears this (see verification).
        message = texts.text("identity.code_limit", language, when=when)
        await websocket.send_json(error_frame("identity_code_limit", message, client_id))
        return
    if challenge.status == "registration_limited":
        limited = texts.text(REGISTRATION_LIMITED, language)
        await websocket.send_json(error_frame("identity_registration_limited", limited, client_id))
    else:
        message = verification.VerificationResult("locked", 0).message(language)
        await websocket.send_json(error_frame("identity_locked", message, client_id))
    services.wake_turns()  # the verdict is queued for the bot


async def handle_otp(
    services: Services, websocket: WebSocket, session: ChatSession, frame: dict[str, Any]
) -> None:
    """Answer an `otp` frame: check the code and tell the bot, or ask again."""
    client_id = client_id_of(frame)
    code = frame.get("code")
    if not isinstance(code, str) or not _OTP.fullmatch(code.strip()):
        raise FrameError("otp_invalid", "identity.enter_code")
    requester = requester_of(services, session)

    def check() -> tuple[verification.VerificationResult, Language]:
        with services.unit_of_work() as db:
            conversation = current_conversation(db, session)
            language = conversations.reply_language(session=db, conversation=conversation)
            result = verification.check_web_code(
                session=db,
                conversation=conversation,
                code=code.strip(),
                now=services.clock(),
                requester=requester,
            )
            if result.status == "verified":
                _mark_answered(db, conversation)
            verdict = _code_verdict(result.status)
            if verdict is not None and conversation.owner is Owner.BOT:
                turn_queue.enqueue_turn(session=db, conversation=conversation, text=verdict)
            return result, language

    result, language = await run_in_threadpool(check)
    message = result.message(language) if result.status != "verified" else ""
    if client_id:
        await websocket.send_json(ack_frame(client_id))
    if result.status == "verified":
        services.wake_turns()  # the verdict is queued for the bot
    elif result.status == "wrong_code":
        await websocket.send_json(error_frame("otp_wrong", message))
        await websocket.send_json(_otp_request(result.attempts_left, language))
    elif result.status == "expired":
        await websocket.send_json(error_frame("otp_expired", message))
        await websocket.send_json({"type": "identity_request", "reason": message})
    else:
        await websocket.send_json(error_frame("identity_locked", message))
        services.wake_turns()
