"""Identity and one-time-code frames: how the web chat learns who the patient is.

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
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import WebSocket
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from connectors.bridge import hand_turn_to_bot
from connectors.webchat.protocol import (
    ChatSession,
    FrameError,
    ack_frame,
    client_id_of,
    error_frame,
)
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Conversation, Message, Owner, Role
from frontdesk.conversations.turns import IDENTITY_FAILED, IDENTITY_PROVIDED
from frontdesk.patients import verification
from frontdesk.patients.service import InvalidIdentityError
from frontdesk.runtime import Services

_OTP = re.compile(r"\d{6}")


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


def _otp_request(masked_phone: str, attempts_left: int | None) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "otp_request",
        "reason": f"We texted a 6-digit code to {masked_phone}. Please enter it here.",
        "masked_phone": masked_phone,
    }
    if attempts_left is not None:
        frame["attempts_left"] = attempts_left
    return frame


async def handle_identity(
    services: Services, websocket: WebSocket, session: ChatSession, frame: dict[str, Any]
) -> None:
    """Answer an `identity` frame: link the patient (booking) or text a code (verifying)."""
    client_id = client_id_of(frame)
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
        await websocket.send_json(error_frame("identity_invalid", str(exc), client_id))
        await websocket.send_json({"type": "identity_request", "reason": str(exc)})
        return
    if client_id:
        await websocket.send_json(ack_frame(client_id))
    if challenge is None or challenge.status == "code_sent":
        if challenge is not None:
            await websocket.send_json(_otp_request(challenge.masked_phone or "your phone", None))
        elif owner is Owner.BOT:  # staff who own the conversation see the link in their console
            await hand_turn_to_bot(services, websocket, session.public_id, IDENTITY_PROVIDED)
        return
    if challenge.status == "not_found":
        reason = (
            "We couldn't find a record with those details. Please check your name and date "
            "of birth and try again."
        )
        await websocket.send_json(error_frame("identity_not_found", reason, client_id))
        await websocket.send_json({"type": "identity_request", "reason": reason})
        return
    if challenge.status == "no_phone":
        await websocket.send_json(
            error_frame(
                "identity_no_phone",
                "We have no mobile number on file to send you a code, so a member of our "
                "staff will confirm your identity.",
                client_id,
            )
        )
    else:
        message = verification.VerificationResult("locked", 0).message
        await websocket.send_json(error_frame("identity_locked", message, client_id))
    if owner is Owner.BOT:
        await hand_turn_to_bot(services, websocket, session.public_id, IDENTITY_FAILED)


async def handle_otp(
    services: Services, websocket: WebSocket, session: ChatSession, frame: dict[str, Any]
) -> None:
    """Answer an `otp` frame: check the code and tell the bot, or ask again."""
    client_id = client_id_of(frame)
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
        await websocket.send_json(ack_frame(client_id))
    if result.status == "verified":
        if owner is Owner.BOT:
            await hand_turn_to_bot(services, websocket, session.public_id, IDENTITY_PROVIDED)
    elif result.status == "wrong_code":
        await websocket.send_json(error_frame("otp_wrong", result.message))
        await websocket.send_json(_otp_request("your phone", result.attempts_left))
    elif result.status == "expired":
        await websocket.send_json(error_frame("otp_expired", result.message))
        await websocket.send_json({"type": "identity_request", "reason": result.message})
    else:
        await websocket.send_json(error_frame("identity_locked", result.message))
        if owner is Owner.BOT:
            await hand_turn_to_bot(services, websocket, session.public_id, IDENTITY_FAILED)
