"""Web chat over WebSocket: the widget's only door into the service.

Wire format (JSON text frames), client to server:
  {"type": "message", "text": str, "payload": str?, "client_id": str}
  {"type": "identity", "full_name": str, "date_of_birth": "YYYY-MM-DD", "client_id": str}
  {"type": "otp", "code": "6 digits", "client_id": str}
Server to client:
  {"type": "session", "conversation_id", "resume_token", "practice": {"slug", "name"}}
  {"type": "history", "messages": [message...]}
  {"type": "message", "role": "bot"|"staff", "text", "buttons": [{"title","payload"}],
   "sender_name", "at"}
  {"type": "identity_request", "reason": str}
  {"type": "otp_request", "reason": str, "masked_phone": str, "attempts_left": int}
  {"type": "handoff", "owner": "staff"|"bot", "sender_name": str|null}  (a person took the
   conversation over, by name once claimed, or handed it back to the assistant)
  {"type": "typing", "active": bool}
  {"type": "ack", "client_id": str}
  {"type": "error", "code": str, "message": str}

Identity never passes through Rasa. The bot asks with a custom `identity_request` whose
"purpose" the service reads from its own stored copy (never from the client):
- "book": name + date of birth link the conversation to the patient (a new patient is
  registered); the service then sends Rasa "/identity_provided".
- "verify" (before appointments are shown or changed): name + date of birth, then a one-time
  code is texted to the phone on file and the widget gets `otp_request`; it answers with an
  `otp` frame. A right code sends "/identity_provided"; a wrong one gets an `otp_wrong` error
  and a new `otp_request`; an expired one (`otp_expired`) a new `identity_request`; when
  verification locks (too many failures) or no phone is on file, the widget gets
  `identity_locked` / `identity_no_phone` and Rasa gets "/identity_failed" (the bot escalates).

Every patient frame is stored before it is acknowledged, and a resent frame (same client_id)
is acknowledged again but never stored or forwarded twice.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from connectors.rasa import BotUnavailableError
from frontdesk.auth.origins import refuse_disallowed_origin
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation, Message, Owner, Role
from frontdesk.conversations.turns import IDENTITY_FAILED, IDENTITY_PROVIDED, bot_turn_text
from frontdesk.events import Event
from frontdesk.patients import verification
from frontdesk.patients.service import InvalidIdentityError
from frontdesk.runtime import Services

logger = logging.getLogger(__name__)
router = APIRouter()

_OTP = re.compile(r"\d{6}")
RATE_LIMIT = 20  # frames ...
RATE_WINDOW_SECONDS = 30.0  # ... per this many seconds, per socket


class FrameError(ValueError):
    """A client frame we cannot accept; `code` goes back to the widget."""

    def __init__(self, code: str, message: str, client_id: str | None = None) -> None:
        """Create the error with a machine code and a patient-facing message."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id


@dataclass
class _Session:
    conversation_id: int
    public_id: str
    practice_id: int


def _error(code: str, message: str, client_id: str | None = None) -> dict[str, Any]:
    frame = {"type": "error", "code": code, "message": message}
    if client_id:
        frame["client_id"] = client_id  # tells the widget which queued frame failed
    return frame


def _client_id(frame: dict[str, Any]) -> str | None:
    value = frame.get("client_id")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise FrameError("bad_frame", "That message could not be read.")
    return value


def parse_message_frame(frame: dict[str, Any], *, max_chars: int) -> tuple[str, str | None]:
    """Check a chat message frame; returns (text, payload)."""
    text = frame.get("text")
    payload = frame.get("payload")
    if not isinstance(text, str) or (payload is not None and not isinstance(payload, str)):
        raise FrameError("bad_frame", "That message could not be read.")
    text = text.replace("\x00", "").strip()
    if not text:
        raise FrameError("empty_message", "Please type a message.")
    if len(text) > max_chars:
        raise FrameError(
            "message_too_long",
            f"That message is too long ({len(text)} characters). Please keep it under {max_chars}.",
        )
    return text, payload


@router.websocket("/chat/ws")
async def chat_socket(websocket: WebSocket, practice: str, resume: str | None = None) -> None:
    """One patient's web chat connection."""
    services: Services = websocket.app.state.services
    await websocket.accept()
    if await refuse_disallowed_origin(
        websocket,
        practice,
        sessions=services.sessions,
        service_origin=services.settings.base_url,
    ):
        return  # embedded on a website the practice has not allowed (close code 4403)
    opened = await run_in_threadpool(_open_session, services, practice, resume)
    if isinstance(opened, dict):
        await websocket.send_json(opened)
        await websocket.close(code=4404 if opened["code"] == "practice_unknown" else 4401)
        return
    session, hello, resumed = opened
    await websocket.send_json(hello)
    # Attach before reading the history: a bot message stored meanwhile then reaches this
    # socket one way or the other (frames carry ids, so the widget shows it once).
    services.hub.attach(session.public_id, websocket)
    if resumed:
        await websocket.send_json(await run_in_threadpool(_history_frame, services, session))
    recent: deque[float] = deque()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text")
            now = time.monotonic()
            recent.append(now)
            while recent and now - recent[0] > RATE_WINDOW_SECONDS:
                recent.popleft()
            try:
                if len(recent) > RATE_LIMIT:
                    raise FrameError("rate_limited", "You're sending messages very fast.")
                if not isinstance(raw, str):  # a binary frame: the protocol is JSON text
                    raise FrameError("bad_frame", "That message could not be read.")
                await _handle_frame(services, websocket, session, raw)
            except FrameError as exc:
                await websocket.send_json(_error(exc.code, exc.message, exc.client_id))
    except WebSocketDisconnect:
        pass
    finally:
        services.hub.detach(session.public_id, websocket)


def _open_session(
    services: Services, practice_slug: str, resume: str | None
) -> tuple[_Session, dict[str, Any], bool] | dict[str, Any]:
    """Start or resume a conversation; returns (session, hello frame, resumed) or an error."""
    with services.unit_of_work() as db:
        practice = conversations.get_practice(session=db, slug=practice_slug)
        if practice is None:
            return _error("practice_unknown", "This chat is not set up for that practice.")
        if resume:
            conversation = conversations.resume_conversation(
                session=db, practice=practice, resume_token=resume
            )
            if conversation is None:
                return _error("resume_invalid", "That conversation has ended; starting anew.")
            token = resume
        else:
            conversation, token = conversations.start_conversation(
                session=db, practice=practice, channel=Channel.WEBCHAT
            )
        hello = {
            "type": "session",
            "conversation_id": conversation.public_id,
            "resume_token": token,
            "practice": {"slug": practice.slug, "name": practice.name},
        }
        return _Session(conversation.id, conversation.public_id, practice.id), hello, bool(resume)


def _history_frame(services: Services, session: _Session) -> dict[str, Any]:
    with services.unit_of_work() as db:
        conversation = conversations.get_conversation(session=db, public_id=session.public_id)
        assert conversation is not None
        messages = conversations.history(session=db, conversation=conversation)
        return {
            "type": "history",
            "messages": [conversations.StoredMessage.of(m).as_frame() for m in messages],
        }


async def _handle_frame(
    services: Services, websocket: WebSocket, session: _Session, raw: str
) -> None:
    if len(raw) > 8 * services.settings.max_message_chars + 1024:
        raise FrameError(
            "message_too_long",
            f"That message is too long. Please keep it under "
            f"{services.settings.max_message_chars} characters.",
        )
    try:
        frame = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FrameError("bad_frame", "That message could not be read.") from exc
    if not isinstance(frame, dict):
        raise FrameError("bad_frame", "That message could not be read.")
    kind = frame.get("type")
    try:
        if kind == "message":
            await _handle_message(services, websocket, session, frame)
        elif kind == "identity":
            await _handle_identity(services, websocket, session, frame)
        elif kind == "otp":
            await _handle_otp(services, websocket, session, frame)
        elif kind == "ping":
            await websocket.send_json({"type": "pong"})
        else:
            raise FrameError("bad_frame", "That message could not be read.")
    except FrameError as exc:
        client_id = frame.get("client_id")
        if exc.client_id is None and isinstance(client_id, str) and len(client_id) <= 64:
            exc.client_id = client_id
        raise


async def _handle_message(
    services: Services, websocket: WebSocket, session: _Session, frame: dict[str, Any]
) -> None:
    text, payload = parse_message_frame(frame, max_chars=services.settings.max_message_chars)
    client_id = _client_id(frame)

    def store() -> tuple[int, bool, bool, Owner, set[str]]:
        with services.unit_of_work() as db:
            conversation = conversations.get_conversation(session=db, public_id=session.public_id)
            assert conversation is not None
            message, created = conversations.record_patient_message(
                session=db,
                conversation=conversation,
                text=text,
                payload=payload,
                client_id=client_id,
            )
            offered = conversations.offered_payloads(session=db, conversation=conversation)
            return message.id, created, message.forwarded_at is None, conversation.owner, offered

    message_id, created, pending, owner, offered = await run_in_threadpool(store)
    if client_id:
        await websocket.send_json({"type": "ack", "client_id": client_id})
    if created:  # the staff console shows new patient messages live
        services.events.publish(
            Event(
                "conversation.patient_message",
                session.practice_id,
                {"conversation_id": session.public_id},
            )
        )
    # A resend of a message the bot already has is only acknowledged; one that was stored but
    # never handed over (connection lost, bot down) is handed over now.
    if not pending or owner is not Owner.BOT:
        return
    bot_text = bot_turn_text(text, payload, offered=offered)
    if not bot_text.startswith("/"):  # issue 5: Rasa's tracker gets tokens, never raw PHI
        bot_text = await run_in_threadpool(_protect_for_bot, services, session, bot_text)
    if await _to_bot(services, websocket, session, bot_text):
        await run_in_threadpool(_mark_forwarded, services, message_id)


def _protect_for_bot(services: Services, session: _Session, text: str) -> str:
    from frontdesk.phi.tokens import protect_for_bot

    with services.unit_of_work() as db:
        return protect_for_bot(session=db, conversation_id=session.conversation_id, text=text)


def _mark_forwarded(services: Services, message_id: int) -> None:
    with services.unit_of_work() as db:
        conversations.mark_forwarded(session=db, message_id=message_id, at=services.clock())


def _identity_purpose(db: Session, conversation: Conversation) -> str | None:
    """What the bot's latest identity request was for, from our stored copy of it.

    None when the bot asked for nothing: an identity frame nobody asked for is refused, so a
    script cannot register patients or tell the bot "identity provided" at will.
    """
    recent = db.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.role == Role.BOT)
        .order_by(Message.id.desc())
        .limit(20)
    )
    for message in recent:
        custom = (message.payload or {}).get("custom")
        if isinstance(custom, dict) and custom.get("type") == "identity_request":
            return "verify" if custom.get("purpose") == "verify" else "book"
    return None


def _code_sender(websocket: WebSocket) -> verification.CodeSender:
    """The app's code sender (tests and sandboxes set `app.state.code_sender`), else SMS."""
    sender: verification.CodeSender | None = getattr(websocket.app.state, "code_sender", None)
    return sender or verification.SmsCodeSender()


async def _handle_identity(
    services: Services, websocket: WebSocket, session: _Session, frame: dict[str, Any]
) -> None:
    client_id = _client_id(frame)
    full_name = frame.get("full_name")
    raw_dob = frame.get("date_of_birth")
    if not isinstance(full_name, str) or not isinstance(raw_dob, str):
        raise FrameError("identity_invalid", "Please enter your full name and date of birth.")
    try:
        dob = date.fromisoformat(raw_dob)
    except ValueError as exc:
        raise FrameError("identity_invalid", "Please enter a valid date of birth.") from exc
    sender = _code_sender(websocket)

    def identify() -> tuple[Owner, verification.WebChallenge | None]:
        with services.unit_of_work() as db:
            conversation = conversations.get_conversation(session=db, public_id=session.public_id)
            assert conversation is not None
            purpose = _identity_purpose(db, conversation)
            if purpose is None:
                raise FrameError(
                    "identity_unexpected",
                    "Please tell us what you need first; we'll ask for your details then.",
                    client_id,
                )
            if purpose == "verify":
                challenge = verification.start_web_verification(
                    session=db,
                    conversation=conversation,
                    full_name=full_name,
                    date_of_birth=dob,
                    now=services.clock(),
                    sender=sender,
                )
                return conversation.owner, challenge
            verification.identify_for_booking(
                session=db,
                conversation=conversation,
                full_name=full_name,
                date_of_birth=dob,
                now=services.clock(),
            )
            return conversation.owner, None

    try:
        owner, challenge = await run_in_threadpool(identify)
    except InvalidIdentityError as exc:
        await websocket.send_json(_error("identity_invalid", str(exc), client_id))
        await websocket.send_json({"type": "identity_request", "reason": str(exc)})
        return
    if client_id:
        await websocket.send_json({"type": "ack", "client_id": client_id})
    if challenge is None or challenge.status == "code_sent":
        if challenge is not None:
            await websocket.send_json(_otp_request(challenge.masked_phone or "your phone", None))
        elif owner is Owner.BOT:  # staff who own the conversation see the link in their console
            await _to_bot(services, websocket, session, IDENTITY_PROVIDED)
        return
    if challenge.status == "not_found":
        reason = (
            "We couldn't find a record with those details. Please check your name and date "
            "of birth and try again."
        )
        await websocket.send_json(_error("identity_not_found", reason, client_id))
        await websocket.send_json({"type": "identity_request", "reason": reason})
        return
    if challenge.status == "no_phone":
        await websocket.send_json(
            _error(
                "identity_no_phone",
                "We have no mobile number on file to send you a code, so a member of our "
                "staff will confirm your identity.",
                client_id,
            )
        )
    else:
        message = verification.VerificationResult("locked", 0).message
        await websocket.send_json(_error("identity_locked", message, client_id))
    if owner is Owner.BOT:
        await _to_bot(services, websocket, session, IDENTITY_FAILED)


def _otp_request(masked_phone: str, attempts_left: int | None) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "otp_request",
        "reason": f"We texted a 6-digit code to {masked_phone}. Please enter it here.",
        "masked_phone": masked_phone,
    }
    if attempts_left is not None:
        frame["attempts_left"] = attempts_left
    return frame


async def _handle_otp(
    services: Services, websocket: WebSocket, session: _Session, frame: dict[str, Any]
) -> None:
    client_id = _client_id(frame)
    code = frame.get("code")
    if not isinstance(code, str) or not _OTP.fullmatch(code.strip()):
        raise FrameError("otp_invalid", "Please enter the 6-digit code from the text message.")

    def check() -> tuple[Owner, verification.VerificationResult]:
        with services.unit_of_work() as db:
            conversation = conversations.get_conversation(session=db, public_id=session.public_id)
            assert conversation is not None
            result = verification.check_web_code(
                session=db, conversation=conversation, code=code.strip(), now=services.clock()
            )
            return conversation.owner, result

    owner, result = await run_in_threadpool(check)
    if client_id:
        await websocket.send_json({"type": "ack", "client_id": client_id})
    if result.status == "verified":
        if owner is Owner.BOT:
            await _to_bot(services, websocket, session, IDENTITY_PROVIDED)
    elif result.status == "wrong_code":
        await websocket.send_json(_error("otp_wrong", result.message))
        await websocket.send_json(_otp_request("your phone", result.attempts_left))
    elif result.status == "expired":
        await websocket.send_json(_error("otp_expired", result.message))
        await websocket.send_json({"type": "identity_request", "reason": result.message})
    else:
        await websocket.send_json(_error("identity_locked", result.message))
        if owner is Owner.BOT:
            await _to_bot(services, websocket, session, IDENTITY_FAILED)


async def _to_bot(services: Services, websocket: WebSocket, session: _Session, text: str) -> bool:
    """Hand one turn to the bot; False when it could not be reached."""
    await websocket.send_json({"type": "typing", "active": True})
    try:
        await services.bot.send_user_turn(session.public_id, text)
    except BotUnavailableError:
        await websocket.send_json(
            _error(
                "bot_unavailable",
                "Sorry, the assistant is not answering right now. Your message is saved; "
                "please try again in a moment or call the practice.",
            )
        )
        return False
    finally:
        await websocket.send_json({"type": "typing", "active": False})
    return True
