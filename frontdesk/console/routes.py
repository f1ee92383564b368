"""The staff console: escalation queue, conversation view, takeover actions, live updates.

Pages are server-rendered (Jinja2, autoescaped) and work without JavaScript; the console
script only refreshes them live. Every handler is scoped to the signed-in staff member's
practice, and every view of a conversation or patient record is audited with a reason.
Forms post url-encoded fields with the session's CSRF token; success redirects (303) back
to the page, a refused action re-renders it with the typed text kept.

Live updates: `GET /console/ws` (WebSocket, same session cookie) forwards the practice's
`conversation.*` events as `{"type": kind, "conversation_id": id}`; the script then fetches
`/console/api/queue` or `/console/api/conversations/{id}/messages?after=N` (JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from frontdesk.audit.service import record_audit
from frontdesk.auth.deps import (
    SESSION_COOKIE,
    WS_UNAUTHENTICATED,
    read_form,
    require_staff,
    services_of,
    verify_csrf,
)
from frontdesk.auth.models import StaffAccount
from frontdesk.auth.service import LoginPolicy, StaffUser, authenticate
from frontdesk.bot import BotUnavailableError
from frontdesk.console import service as console
from frontdesk.conversations import handoff
from frontdesk.conversations.models import Conversation, Owner
from frontdesk.conversations.service import StoredMessage
from frontdesk.events import Event
from frontdesk.insights import no_shows
from frontdesk.practices.models import Practice
from frontdesk.runtime import Services
from frontdesk.web.templates import templates

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
Staff = Annotated[StaffUser, Depends(require_staff())]
CSRF = [Depends(verify_csrf)]
EVENT_PREFIX = "conversation."
WS_BAD_ORIGIN = 4403
# An open live socket checks its session again at least this often (and before every event),
# so signing out, an idle timeout or a disabled account also ends the tab's live feed.
SESSION_RECHECK_SECONDS = 60.0
# Confirmation shown after a successful action (?done=...): fixed wording, never echoed input.
DONE_TEXT = {
    "claimed": "You have claimed this conversation. The patient will see your name.",
    "replied": "Reply sent.",
    "noted": "Note added. Notes are never sent to the patient.",
    "handed_back": "The virtual assistant is answering this conversation again.",
    "resolved": "Conversation resolved.",
    "no_show": "Visit marked as a no-show.",
}
BOT_DOWN_TEXT = (
    "The virtual assistant is not reachable right now, so the conversation stays with you. "
    "Please try again in a minute."
)


def _event(services: Services, kind: str, practice_id: int, public_id: str) -> None:
    services.events.publish(Event(kind, practice_id, {"conversation_id": public_id}))


def _load(session: Session, staff: StaffUser, public_id: str) -> Conversation:
    conversation = console.find_conversation(
        session=session, practice_id=staff.practice_id, public_id=public_id
    )
    if conversation is None:
        raise HTTPException(status_code=404, detail="no such conversation")
    return conversation


def _audit(
    session: Session, staff: StaffUser, services: Services, action: str, subject: str, why: str
) -> None:
    subject_type, _, subject_id = subject.partition(":")
    record_audit(
        session=session,
        actor_id=staff.id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=why,
        now=services.clock(),
    )


def _view_reason(conversation: Conversation, staff: StaffUser) -> str:
    return "claimed" if conversation.assignee_staff_id == staff.id else "queue triage"


# --- pages -------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, staff: Staff) -> HTMLResponse:
    """The queue of escalated conversations (no patient details: nothing to audit)."""
    services = services_of(request)
    with services.unit_of_work() as session:
        items = console.queue(session=session, practice_id=staff.practice_id, now=services.clock())
    return templates.TemplateResponse(
        request, "console/queue.html", {"staff": staff, "items": items}
    )


@router.get("/api/queue")
def queue_json(request: Request, staff: Staff) -> dict[str, Any]:
    """The queue as JSON, for live refresh."""
    services = services_of(request)
    with services.unit_of_work() as session:
        items = console.queue(session=session, practice_id=staff.practice_id, now=services.clock())
    return {"items": [item.as_json() for item in items]}


@router.get("/conversations/{public_id}", response_class=HTMLResponse)
def conversation_page(
    request: Request,
    staff: Staff,
    public_id: str,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """One conversation: transcript, notes, patient context and the takeover actions."""
    return _render_conversation(request, staff, public_id, done=done)


def _render_conversation(
    request: Request,
    staff: StaffUser,
    public_id: str,
    *,
    done: str | None = None,
    error: str | None = None,
    reply_draft: str = "",
    note_draft: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    services = services_of(request)
    with services.unit_of_work() as session:
        conversation = _load(session, staff, public_id)
        why = _view_reason(conversation, staff)
        _audit(session, staff, services, "conversation.view", f"conversation:{public_id}", why)
        patient = console.patient_context(
            session=session, conversation=conversation, now=services.clock()
        )
        if patient is not None:
            _audit(session, staff, services, "patient.view", f"patient:{patient.patient_id}", why)
        entries = console.transcript(session=session, conversation=conversation)
        assignee = (
            session.get(StaffAccount, conversation.assignee_staff_id)
            if conversation.assignee_staff_id
            else None
        )
        context = {
            "staff": staff,
            "conversation": conversation,
            "public_id": public_id,
            "reason": console.reason_label(conversation.escalation_reason),
            "channel": console.CHANNEL_LABELS[conversation.channel],
            "language": console.language_label(session=session, conversation=conversation),
            "staff_owned": conversation.owner is Owner.STAFF,
            "mine": conversation.assignee_staff_id == staff.id,
            "assignee_name": assignee.display_name if assignee else None,
            "may_release": conversation.owner is Owner.STAFF
            and (conversation.assignee_staff_id in (None, staff.id) or staff.is_admin),
            "entries": entries,
            "zone": ZoneInfo(session.get_one(Practice, conversation.practice_id).timezone),
            "last_message_id": max((e.id for e in entries if e.kind != "note"), default=0),
            "patient": patient,
            "done": DONE_TEXT.get(done or ""),
            "error": error,
            "reply_draft": reply_draft,
            "note_draft": note_draft,
            "max_reply": handoff.MAX_REPLY_CHARS,
            "max_note": handoff.MAX_NOTE_CHARS,
        }
    return templates.TemplateResponse(
        request, "console/conversation.html", context, status_code=status_code
    )


@router.get("/api/conversations/{public_id}/messages")
def new_messages(
    request: Request,
    staff: Staff,
    public_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Messages after `after` and the conversation's state, for live refresh (audited)."""
    services = services_of(request)
    with services.unit_of_work() as session:
        conversation = _load(session, staff, public_id)
        entries = console.transcript(
            session=session, conversation=conversation, after_message_id=after
        )
        if entries:
            _audit(
                session,
                staff,
                services,
                "conversation.view",
                f"conversation:{public_id}",
                "live update",
            )
        return {
            "entries": [e.as_json() for e in entries],
            "status": conversation.status.value,
            "owner": conversation.owner.value,
            "assignee_id": conversation.assignee_staff_id,
        }


# --- actions -----------------------------------------------------------------------------


def _back(public_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/conversations/{public_id}?done={done}", status_code=303)


@router.post("/conversations/{public_id}/claim", dependencies=CSRF)
async def claim(request: Request, staff: Staff, public_id: str) -> Response:
    """Take the conversation: the patient's replies now come to this staff member."""
    services = services_of(request)

    def work() -> None:
        with services.unit_of_work() as session:
            conversation = _load(session, staff, public_id)
            handoff.claim(
                session=session, conversation=conversation, staff_id=staff.id, now=services.clock()
            )
            _audit(
                session,
                staff,
                services,
                "conversation.claim",
                f"conversation:{public_id}",
                "claimed",
            )

    try:
        await run_in_threadpool(work)
    except handoff.HandoffError as exc:
        return _render_conversation(request, staff, public_id, error=exc.message, status_code=409)
    with contextlib.suppress(BotUnavailableError):
        # Usually paused already by action_escalate; this keeps Rasa in step when something
        # else escalated. Not fatal: the service forwards nothing while staff own it.
        await services.bot.pause(public_id)
    await services.hub.publish(
        public_id, {"type": "handoff", "owner": "staff", "sender_name": staff.display_name}
    )
    _event(services, "conversation.claimed", staff.practice_id, public_id)
    return _back(public_id, "claimed")


@router.post("/conversations/{public_id}/reply", dependencies=CSRF)
async def reply(request: Request, staff: Staff, public_id: str) -> Response:
    """Send a reply over the patient's channel (web chat now; SMS through the outbox)."""
    services = services_of(request)
    text = (await read_form(request)).get("text", "")

    def work() -> StoredMessage:
        with services.unit_of_work() as session:
            conversation = _load(session, staff, public_id)
            message = handoff.reply_as_staff(
                session=session,
                conversation=conversation,
                staff_id=staff.id,
                sender_name=staff.display_name,
                text=text,
                now=services.clock(),
            )
            _audit(
                session,
                staff,
                services,
                "conversation.reply",
                f"conversation:{public_id}",
                "claimed",
            )
            return StoredMessage.of(message)

    try:
        stored = await run_in_threadpool(work)
    except handoff.HandoffError as exc:
        return _render_conversation(
            request, staff, public_id, error=exc.message, reply_draft=text, status_code=409
        )
    await services.hub.publish(public_id, {"type": "message", **stored.as_frame()})
    # Other console tabs: the wait is over, and the reply shows in the transcript.
    _event(services, "conversation.staff_reply", staff.practice_id, public_id)
    return _back(public_id, "replied")


@router.post("/conversations/{public_id}/notes", dependencies=CSRF)
async def add_note(request: Request, staff: Staff, public_id: str) -> Response:
    """Add an internal note (never sent to the patient)."""
    services = services_of(request)
    text = (await read_form(request)).get("text", "")

    def work() -> None:
        with services.unit_of_work() as session:
            conversation = _load(session, staff, public_id)
            handoff.add_note(
                session=session,
                conversation=conversation,
                staff_id=staff.id,
                text=text,
                now=services.clock(),
            )
            _audit(
                session,
                staff,
                services,
                "conversation.note",
                f"conversation:{public_id}",
                _view_reason(conversation, staff),
            )

    try:
        await run_in_threadpool(work)
    except handoff.HandoffError as exc:
        return _render_conversation(
            request, staff, public_id, error=exc.message, note_draft=text, status_code=400
        )
    return _back(public_id, "noted")


@router.post("/conversations/{public_id}/visits/{appointment_id}/no-show", dependencies=CSRF)
def mark_no_show(request: Request, staff: Staff, public_id: str, appointment_id: int) -> Response:
    """Mark a visit of the conversation's patient that started as a no-show (audited)."""
    services = services_of(request)
    try:
        with services.unit_of_work() as session:
            conversation = _load(session, staff, public_id)
            if conversation.patient_id is None or not any(
                visit.appointment_id == appointment_id
                for visit in no_shows.markable_visits(
                    session=session, patient_id=conversation.patient_id, now=services.clock()
                )
            ):
                raise no_shows.NoShowError("This visit is not one of this patient's recent visits.")
            no_shows.mark_no_show(
                session=session,
                practice_id=staff.practice_id,
                appointment_id=appointment_id,
                now=services.clock(),
            )
            _audit(
                session,
                staff,
                services,
                "appointment.no_show",
                f"appointment:{appointment_id}",
                _view_reason(conversation, staff),
            )
    except no_shows.NoShowError as exc:
        return _render_conversation(request, staff, public_id, error=exc.message, status_code=409)
    return _back(public_id, "no_show")


@router.post("/conversations/{public_id}/hand-back", dependencies=CSRF)
async def hand_back(request: Request, staff: Staff, public_id: str) -> Response:
    """Give the conversation back to the bot, which answers the patient's next message."""
    return await _release(request, staff, public_id, resolve=False)


@router.post("/conversations/{public_id}/resolve", dependencies=CSRF)
async def resolve(request: Request, staff: Staff, public_id: str) -> Response:
    """Close the conversation; the bot answers if the patient writes again."""
    return await _release(request, staff, public_id, resolve=True)


async def _release(
    request: Request, staff: StaffUser, public_id: str, *, resolve: bool
) -> Response:
    services = services_of(request)

    def check() -> None:
        with services.unit_of_work() as session:
            handoff.check_may_release(
                conversation=_load(session, staff, public_id),
                staff_id=staff.id,
                admin=staff.is_admin,
            )

    def work() -> StoredMessage | None:
        with services.unit_of_work() as session:
            conversation = _load(session, staff, public_id)
            now = services.clock()
            stored = None
            if resolve:
                handoff.resolve(
                    session=session,
                    conversation=conversation,
                    staff_id=staff.id,
                    now=now,
                    admin=staff.is_admin,
                )
            else:
                stored = StoredMessage.of(
                    handoff.hand_back_to_bot(
                        session=session,
                        conversation=conversation,
                        staff_id=staff.id,
                        admin=staff.is_admin,
                    )
                )
            action = "conversation.resolve" if resolve else "conversation.hand_back"
            _audit(session, staff, services, action, f"conversation:{public_id}", "claimed")
            return stored

    try:
        await run_in_threadpool(check)
        # Rasa first: if it cannot be resumed, staff keep the conversation rather than
        # handing the patient to a bot that would ignore them.
        await services.bot.resume(public_id)
        stored = await run_in_threadpool(work)
    except handoff.HandoffError as exc:
        return _render_conversation(request, staff, public_id, error=exc.message, status_code=409)
    except BotUnavailableError:
        logger.warning("could not resume the bot for a hand-back")
        return _render_conversation(request, staff, public_id, error=BOT_DOWN_TEXT, status_code=503)
    if stored is not None:
        await services.hub.publish(public_id, {"type": "message", **stored.as_frame()})
    await services.hub.publish(public_id, {"type": "handoff", "owner": "bot", "sender_name": None})
    kind = "conversation.resolved" if resolve else "conversation.handed_back"
    _event(services, kind, staff.practice_id, public_id)
    return _back(public_id, "resolved" if resolve else "handed_back")


# --- live updates ------------------------------------------------------------------------


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser: the session cookie is what authenticates it
        return True
    return (urlsplit(origin).netloc or "").lower() == websocket.headers.get("host", "").lower()


@router.websocket("/ws")
async def live_updates(websocket: WebSocket, staff: Staff) -> None:
    """Push the practice's conversation events (ids only) to a signed-in console tab."""
    services = services_of(websocket)
    if not _same_origin(websocket):  # another site must not ride on the staff cookie
        await websocket.close(code=WS_BAD_ORIGIN)
        return
    token = websocket.cookies.get(SESSION_COOKIE, "")
    await websocket.accept()
    async with services.events.subscribe() as queue:
        # The only thing a client sends is a disconnect; watch for it beside the queue.
        closed = asyncio.ensure_future(_wait_for_close(websocket))
        try:
            while not closed.done():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait(
                    {getter, closed},
                    timeout=SESSION_RECHECK_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if closed.done():
                    getter.cancel()
                    break
                event = getter.result() if getter.done() else None
                if event is None:
                    getter.cancel()
                elif event.practice_id != staff.practice_id or not event.kind.startswith(
                    EVENT_PREFIX
                ):
                    continue
                if not await run_in_threadpool(_session_alive, services, token, staff):
                    await websocket.close(code=WS_UNAUTHENTICATED)
                    break
                if event is None:
                    continue
                await websocket.send_json(
                    {"type": event.kind, "conversation_id": event.data.get("conversation_id")}
                )
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            closed.cancel()


def _session_alive(services: Services, token: str, staff: StaffUser) -> bool:
    """Whether the socket's session is still signed in (a live feed is not staff activity)."""
    with services.unit_of_work() as session:
        current = authenticate(
            session=session,
            token=token,
            now=services.clock(),
            policy=LoginPolicy.from_settings(services.settings),
            touch=False,
        )
    return current is not None and current.session_id == staff.session_id


async def _wait_for_close(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
