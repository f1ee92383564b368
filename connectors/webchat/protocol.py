"""The web chat wire format: JSON text frames between the widget and the service.

Client to server:
  {"type": "resume", "token": str}  (first frame, only on a socket opened with `resume=1`: the
   token never travels in a URL, which proxies and access logs keep)
  {"type": "message", "text": str, "payload": str?, "client_id": str}
  {"type": "identity", "full_name": str, "date_of_birth": "YYYY-MM-DD", "client_id": str}
  {"type": "otp", "code": "6 digits", "client_id": str}
  {"type": "ping"}
Server to client:
  {"type": "session", "conversation_id", "resume_token", "practice": {"slug", "name"},
   "language": "en"|"es"|null}
   (a resume gets a new token: each one works once, within its idle and absolute lifetime;
   the language is the conversation's, once the patient's words decided it, for the widget's
   own labels)
  {"type": "history", "messages": [message...]}
  {"type": "message", "role": "bot"|"staff", "text", "buttons": [{"title","payload"}],
   "sender_name", "at"}
  {"type": "identity_request", "reason": str}
  {"type": "otp_request", "reason": str, "attempts_left": int?}  (no phone digits: the same
   frame answers details that match a record and details that match none)
  {"type": "handoff", "owner": "staff"|"bot", "sender_name": str|null}  (a person took the
   conversation over, by name once claimed, or handed it back to the assistant)
  {"type": "typing", "active": bool}
  {"type": "ack", "client_id": str}
  {"type": "language", "language": "en"|"es"}  (after the ack of a message that decided or
   switched the conversation's language: the widget's own labels follow it)
  {"type": "error", "code": str, "message": str, "client_id": str?}
  {"type": "pong"}

Every patient frame is stored before it is acknowledged, and a resent frame (same client_id)
is acknowledged again but never stored or forwarded twice. How identity and one-time-code
frames are answered is told in `connectors.webchat.identity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Conversation
from frontdesk.language import Language

UNREADABLE = "chat.unreadable"  # catalogue keys (frontdesk.texts)


class FrameError(ValueError):
    """A client frame we cannot accept; `code` goes back to the widget.

    The patient-facing message is a catalogue key and its placeholders: the socket words it
    in the conversation's language (`message_in`) when it answers.
    """

    def __init__(self, code: str, key: str, client_id: str | None = None, **params: object) -> None:
        """Create the error with a machine code and the key of what the patient is told."""
        super().__init__(key)
        self.code = code
        self.key = key
        self.params = params
        self.client_id = client_id

    def message_in(self, language: Language) -> str:
        """What the patient is told, in `language`."""
        return texts.text(self.key, language, **self.params)


@dataclass
class ChatSession:
    """The conversation one open socket speaks for, and the keyed hash of its client address."""

    conversation_id: int
    public_id: str
    practice_id: int
    client_key: str | None = None
    # The conversation's resume token hash when this socket opened: once another socket
    # resumes the conversation (the token rotates), this one may no longer act for it.
    token_hash: str | None = None


SUPERSEDED = "resumed_elsewhere"


def current_conversation(db: Session, session: ChatSession) -> Conversation:
    """The socket's conversation, unless another socket has resumed it since.

    Raises `FrameError` ("resumed_elsewhere") for a superseded socket: whoever holds the
    latest token now speaks for the chat, and a code typed here must not verify theirs.
    """
    conversation = conversations.get_conversation(session=db, public_id=session.public_id)
    assert conversation is not None
    if conversation.resume_token_hash != session.token_hash:
        raise FrameError(SUPERSEDED, "chat.superseded")
    return conversation


def error_frame(code: str, message: str, client_id: str | None = None) -> dict[str, Any]:
    """An `error` frame; with the client_id of the frame it answers, when there was one."""
    frame = {"type": "error", "code": code, "message": message}
    if client_id:
        frame["client_id"] = client_id  # tells the widget which queued frame failed
    return frame


def ack_frame(client_id: str) -> dict[str, Any]:
    """Tells the widget a frame is stored, so it stops resending it."""
    return {"type": "ack", "client_id": client_id}


def client_id_of(frame: dict[str, Any]) -> str | None:
    """The frame's client_id (the widget's key for resends), checked."""
    value = frame.get("client_id")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise FrameError("bad_frame", UNREADABLE)
    return value


def parse_message_frame(frame: dict[str, Any], *, max_chars: int) -> tuple[str, str | None]:
    """Check a chat message frame; returns (text, payload)."""
    text = frame.get("text")
    payload = frame.get("payload")
    if not isinstance(text, str) or (payload is not None and not isinstance(payload, str)):
        raise FrameError("bad_frame", UNREADABLE)
    text = text.replace("\x00", "").strip()
    if not text:
        raise FrameError("empty_message", "chat.empty")
    if len(text) > max_chars:
        raise FrameError("message_too_long", "chat.too_long", length=len(text), limit=max_chars)
    return text, payload
