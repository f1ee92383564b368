"""The web chat endpoint, `WS /chat/ws`: one patient's connection, frame by frame.

The socket is opened by the chat frame (`connectors.webchat.frame`), a page of our own
origin; which websites may show that frame is its CSP `frame-ancestors`. Opening refuses a
page of any other origin, then checks the client address's limits (open sockets, new
conversations), then starts or resumes the conversation. A resume token travels in the
socket's first frame, never in its URL; it expires when the chat sat idle or grew old, and
each resume replaces it. A resumed socket starts unverified: a verification stays with the
socket that earned it. Every frame after that is rate limited, parsed
(`connectors.webchat.protocol`), stored, acknowledged and, while the bot owns the
conversation, handed to the bot (`connectors.bridge`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from connectors.webchat.identity import handle_identity, handle_otp
from connectors.webchat.limits import SocketCounter, client_key, may_start_conversation
from connectors.webchat.protocol import (
    SUPERSEDED,
    UNREADABLE,
    ChatSession,
    FrameError,
    ack_frame,
    client_id_of,
    current_conversation,
    error_frame,
    parse_message_frame,
)
from connectors.webchat.shared_sockets import RedisSocketCounter
from frontdesk import texts
from frontdesk.auth.origins import refuse_disallowed_origin
from frontdesk.conversations import service as conversations
from frontdesk.conversations import turn_queue
from frontdesk.conversations.models import Channel, Conversation, Owner, Role
from frontdesk.conversations.turns import bot_turn_text, safety_line
from frontdesk.events import Event
from frontdesk.language import DEFAULT_LANGUAGE, Language
from frontdesk.patients.verification import close_open_codes
from frontdesk.phi.tokens import protect_for_bot
from frontdesk.runtime import Services

router = APIRouter()

RATE_LIMIT = 20  # frames ...
RATE_WINDOW_SECONDS = 30.0  # ... per this many seconds, per socket
RESUME_FRAME_SECONDS = 10.0  # a socket opened to resume sends its token within this time
RESUME_IDLE = timedelta(minutes=30)  # a token dies when the chat sat idle this long ...
RESUME_LIFETIME = timedelta(hours=12)  # ... or this long after the chat started
CLOSE_RESUME = 4401
CLOSE_UNKNOWN_PRACTICE = 4404
CLOSE_TOO_MANY = 4429
CLOSE_SUPERSEDED = 4409
ENDED = "chat.ended"  # catalogue key (frontdesk.texts)


def _sockets(websocket: WebSocket) -> SocketCounter | RedisSocketCounter:
    """This app's count of open sockets per client address (made at start-up, or first use)."""
    state = websocket.app.state
    counter: SocketCounter | RedisSocketCounter | None = getattr(state, "webchat_sockets", None)
    if counter is None:
        counter = state.webchat_sockets = SocketCounter()
    return counter


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
    key = client_key(
        websocket.client.host if websocket.client else None,
        secret=services.settings.secret_key.get_secret_value(),
    )
    sockets = _sockets(websocket)
    if not await sockets.acquire(key):
        await websocket.send_json(
            error_frame("too_many_connections", "Too many chats are open from here.")
        )
        await websocket.close(code=CLOSE_TOO_MANY)
        return
    try:
        await _serve(services, websocket, practice, resume, key)
    except WebSocketDisconnect:
        pass  # gone before the conversation opened (while we waited for its resume frame)
    finally:
        await sockets.release(key)


async def _serve(
    services: Services, websocket: WebSocket, practice: str, resume: str | None, key: str | None
) -> None:
    token: str | None = None
    if resume is not None:
        token = await _resume_token(websocket, resume)
        if token is None:
            ended = texts.text(ENDED, DEFAULT_LANGUAGE)
            await websocket.send_json(error_frame("resume_invalid", ended))
            await websocket.close(code=CLOSE_RESUME)
            return
    opened = await run_in_threadpool(_open_session, services, practice, token, key)
    if isinstance(opened, dict):
        await websocket.send_json(opened)
        close = {
            "practice_unknown": CLOSE_UNKNOWN_PRACTICE,
            "too_many_conversations": CLOSE_TOO_MANY,
        }
        await websocket.close(code=close.get(opened["code"], CLOSE_RESUME))
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
                    raise FrameError("rate_limited", "chat.too_fast")
                if not isinstance(raw, str):  # a binary frame: the protocol is JSON text
                    raise FrameError("bad_frame", UNREADABLE)
                await _handle_frame(services, websocket, session, raw)
            except FrameError as exc:
                language = await run_in_threadpool(_language, services, session)
                await websocket.send_json(
                    error_frame(exc.code, exc.message_in(language), exc.client_id)
                )
                if exc.code == SUPERSEDED:
                    await websocket.close(code=CLOSE_SUPERSEDED)
                    return
    except WebSocketDisconnect:
        pass
    finally:
        services.hub.detach(session.public_id, websocket)


async def _resume_token(websocket: WebSocket, resume: str) -> str | None:
    """The token from the first frame of a socket opened with `resume=1`, or None.

    A token in the URL itself is refused: URLs end up in proxy and access logs.
    """
    if resume != "1":
        return None
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), RESUME_FRAME_SECONDS)
        frame = json.loads(raw)
    except (TimeoutError, json.JSONDecodeError, KeyError, RuntimeError):
        return None
    if not isinstance(frame, dict) or frame.get("type") != "resume":
        return None
    token = frame.get("token")
    return token if isinstance(token, str) and 0 < len(token) <= 128 else None


def resume_expired(conversation: Conversation, now: datetime) -> bool:
    """Whether a conversation's resume token has lapsed (idle too long, or too old)."""
    return (
        now - conversation.last_activity_at >= RESUME_IDLE
        or now - conversation.created_at >= RESUME_LIFETIME
    )


def _open_session(
    services: Services, practice_slug: str, resume: str | None, key: str | None
) -> tuple[ChatSession, dict[str, Any], bool] | dict[str, Any]:
    """Start or resume a conversation; returns (session, hello frame, resumed) or an error."""
    with services.unit_of_work() as db:
        practice = conversations.get_practice(session=db, slug=practice_slug)
        if practice is None:
            return error_frame(
                "practice_unknown", texts.text("chat.practice_unknown", DEFAULT_LANGUAGE)
            )
        now = services.clock()
        if resume:
            conversation = conversations.resume_conversation(
                session=db, practice=practice, resume_token=resume
            )
            if conversation is None:
                return error_frame("resume_invalid", texts.text(ENDED, DEFAULT_LANGUAGE))
            if resume_expired(conversation, now):
                conversations.revoke_resume_token(session=db, conversation=conversation)
                language = conversations.reply_language(session=db, conversation=conversation)
                return error_frame("resume_invalid", texts.text(ENDED, language))
            # Each token works once; and whoever resumes proves nothing about who they are:
            # not verified, and no code asked for before the resume opens anything after it.
            token = conversations.rotate_resume_token(session=db, conversation=conversation)
            conversation.identity_verified_at = None
            close_open_codes(session=db, conversation=conversation, now=now)
        else:
            if not may_start_conversation(session=db, client_key=key, now=now):
                return error_frame(
                    "too_many_conversations", texts.text("chat.too_many_chats", DEFAULT_LANGUAGE)
                )
            conversation, token = conversations.start_conversation(
                session=db, practice=practice, channel=Channel.WEBCHAT
            )
            conversation.client_key = key
            db.flush()
        hello = {
            "type": "session",
            "conversation_id": conversation.public_id,
            "resume_token": token,
            "practice": {"slug": practice.slug, "name": practice.name},
            # Once the patient's words decided it, the widget labels itself in that language
            # (until then, in the browser's).
            "language": conversation.language,
        }
        session = ChatSession(
            conversation.id,
            conversation.public_id,
            practice.id,
            key,
            conversation.resume_token_hash,
        )
        return session, hello, bool(resume)


def _language(services: Services, session: ChatSession) -> Language:
    """The chat's language, to word an error in."""
    with services.unit_of_work() as db:
        conversation = conversations.get_conversation(session=db, public_id=session.public_id)
        if conversation is None:
            return DEFAULT_LANGUAGE
        return conversations.reply_language(session=db, conversation=conversation)


def _history_frame(services: Services, session: ChatSession) -> dict[str, Any]:
    with services.unit_of_work() as db:
        conversation = conversations.get_conversation(session=db, public_id=session.public_id)
        assert conversation is not None
        messages = conversations.history(session=db, conversation=conversation)
        return {
            "type": "history",
            "messages": [conversations.StoredMessage.of(m).as_frame() for m in messages],
        }


async def _handle_frame(
    services: Services, websocket: WebSocket, session: ChatSession, raw: str
) -> None:
    if len(raw) > 8 * services.settings.max_message_chars + 1024:
        raise FrameError(
            "message_too_long", "chat.too_long_raw", limit=services.settings.max_message_chars
        )
    try:
        frame = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FrameError("bad_frame", UNREADABLE) from exc
    if not isinstance(frame, dict):
        raise FrameError("bad_frame", UNREADABLE)
    kind = frame.get("type")
    try:
        if kind == "message":
            await _handle_message(services, websocket, session, frame)
        elif kind == "identity":
            await handle_identity(services, websocket, session, frame)
        elif kind == "otp":
            await handle_otp(services, websocket, session, frame)
        elif kind == "ping":
            await websocket.send_json({"type": "pong"})
        else:
            raise FrameError("bad_frame", UNREADABLE)
    except FrameError as exc:
        client_id = frame.get("client_id")
        if exc.client_id is None and isinstance(client_id, str) and len(client_id) <= 64:
            exc.client_id = client_id
        raise


async def _handle_message(
    services: Services, websocket: WebSocket, session: ChatSession, frame: dict[str, Any]
) -> None:
    text, payload = parse_message_frame(frame, max_chars=services.settings.max_message_chars)
    client_id = client_id_of(frame)

    def store() -> tuple[bool, bool, conversations.StoredMessage | None, str | None]:
        """Store the message and, in the same transaction, queue its turn for the bot.

        Also returns the conversation's language when this message decided or switched it.
        """
        with services.unit_of_work() as db:
            conversation = current_conversation(db, session)
            before = conversation.language
            message, created = conversations.record_patient_message(
                session=db,
                conversation=conversation,
                text=text,
                payload=payload,
                client_id=client_id,
            )
            language = conversation.language if conversation.language != before else None
            # A resend of a message already queued is only acknowledged (a message stored
            # just now has no turn yet: no need to look).
            if conversation.owner is not Owner.BOT or (
                not created and turn_queue.has_turn(session=db, message_id=message.id)
            ):
                return created, False, None, language
            # Only a button's payload is checked against what the bot offered; typed words
            # never pass as one, so they need not read the recent messages.
            offered = (
                conversations.offered_payloads(session=db, conversation=conversation)
                if payload is not None
                else set()
            )
            bot_text = bot_turn_text(text, payload, offered=offered)
            reply_in = conversations.reply_language(session=db, conversation=conversation)
            line = safety_line(text, bot_text, reply_in.value)
            safety = None
            if line is not None:  # a weak emergency signal: the 911 line leads any answer
                safety = conversations.StoredMessage.of(
                    conversations.record_outgoing_message(
                        session=db, conversation=conversation, role=Role.BOT, text=line
                    )
                )
            if not bot_text.startswith("/"):  # Rasa's tracker gets tokens, never raw PHI
                bot_text = protect_for_bot(
                    session=db, conversation_id=conversation.id, text=bot_text
                )
            turn_queue.enqueue_turn(
                session=db, conversation=conversation, text=bot_text, message_id=message.id
            )
            return created, True, safety, language

    created, queued, safety, language = await run_in_threadpool(store)
    if client_id:
        await websocket.send_json(ack_frame(client_id))
    if language is not None:  # the widget's own labels follow the conversation's language
        await websocket.send_json({"type": "language", "language": language})
    if created:  # the staff console shows new patient messages live
        services.events.publish(
            Event(
                "conversation.patient_message",
                session.practice_id,
                {"conversation_id": session.public_id},
            )
        )
    if not queued:
        return
    if safety is not None:  # then the task carries on
        await services.hub.publish(session.public_id, {"type": "message", **safety.as_frame()})
    services.wake_turns()  # the dispatcher hands the turn to the bot; replies come live
