"""SMS through Twilio: the signed webhooks, and handing inbound texts to the bot.

`POST /webhooks/twilio/sms` checks `X-Twilio-Signature` against the public URL Twilio called
(`FRONTDESK_PUBLIC_URL` + path, so it holds behind a proxy), stores the message once per
`MessageSid`, answers carrier keywords, and replies with empty TwiML at once. The bot turn is
queued with the receipt and handed to Rasa by the turn dispatcher (`connectors.dispatcher`);
replies leave through the outbox (`frontdesk.sms.worker`). `POST /webhooks/twilio/status`
records delivery statuses. Texts stored but never queued (before the queue existed, or an
identity answer not yet checked) are handed on by `retry_pending`, which the SMS channel's
background loop (`frontdesk.sms.lifecycle`) runs.

In development with no Twilio account, messages go to a sandbox shown at `GET /dev/sms`,
where an installer can also type an inbound text.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from frontdesk.conversations import service as conversations
from frontdesk.conversations import turn_queue
from frontdesk.conversations.models import Conversation, Message, Role
from frontdesk.conversations.turns import (
    IDENTITY_FAILED,
    IDENTITY_PROVIDED,
)
from frontdesk.events import Event
from frontdesk.patients.sms_verification import FINAL, SmsVerdict, check_sms_identity
from frontdesk.patients.verification import CodeSender, SmsCodeSender
from frontdesk.runtime import Services
from frontdesk.sms.inbound import (
    InboundResult,
    finish_identity,
    mark_inbound_done,
    pending_inbound,
    queue_bot_turn,
    receive_inbound,
)
from frontdesk.sms.lifecycle import SmsChannel
from frontdesk.sms.models import InboundOutcome, InboundSms
from frontdesk.sms.outbox import record_delivery_status
from frontdesk.sms.sandbox import sandbox_messages, sandbox_numbers
from frontdesk.sms.text import normalise_phone

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_FORM_BYTES = 64 * 1024  # Twilio's inbound form is a few hundred bytes; 1600-char bodies fit
MAX_FORM_FIELDS = 200  # Twilio sends about 20 (a few more per media item)
# The webhook fields this service acts on; each must come once (see `_verified_form`).
READ_FIELDS = frozenset(
    {"MessageSid", "SmsMessageSid", "SmsSid", "From", "To", "Body", "NumMedia"}
    | {"MessageStatus", "SmsStatus", "ErrorCode"}
)
# A proxy or tunnel that relays the internet from this machine adds one of these.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")
PENDING_RETRY_WINDOW = timedelta(hours=1)  # older unforwarded texts go to staff, not the bot


# --- the webhooks -------------------------------------------------------------------------


async def _verified_form(request: Request, services: Services) -> dict[str, str]:
    """The form fields of a request Twilio signed; 403 for anything else."""
    token = services.settings.twilio_auth_token.get_secret_value()
    signature = request.headers.get("x-twilio-signature", "")
    if not token or not signature:
        raise HTTPException(status_code=403, detail="forbidden")
    pairs = await read_form_pairs(request)
    url = public_url(request, services)
    # Every value of every field, as Twilio signs them (a repeated name signs all its values).
    if not RequestValidator(token).validate(url, ImmutableMultiDict(pairs), signature):
        logger.warning("rejected a Twilio webhook with a bad signature (%s)", request.url.path)
        raise HTTPException(status_code=403, detail="forbidden")
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params and name in READ_FIELDS:
            # The signature does not cover the order of repeated values: which one is meant?
            raise HTTPException(status_code=400, detail=f"{name} is repeated")
        params[name] = value
    return params


async def read_form_pairs(request: Request) -> list[tuple[str, str]]:
    """An `application/x-www-form-urlencoded` body (Twilio's webhook format), field by field.

    Read as a stream with a cap, as the console's form reader does: anyone can POST here,
    signed or not, so a body that declares or turns out to be too large gets 413 before it
    is buffered, parsed or checked (the signature covers the whole form).
    """
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise HTTPException(status_code=415, detail="expected a form-encoded body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise HTTPException(status_code=413, detail="too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:  # chunked, or a Content-Length that lied
            raise HTTPException(status_code=413, detail="too large")
    try:
        return parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(status_code=400, detail="unreadable form") from exc


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (the last value of a name)."""
    return dict(await read_form_pairs(request))


def public_url(request: Request, services: Services) -> str:
    """The URL Twilio called: behind a proxy it differs from what this process saw."""
    url = services.settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


@router.post("/webhooks/twilio/sms")
async def inbound_sms(request: Request, background: BackgroundTasks) -> Response:
    """An inbound SMS: verify, store once, answer keywords, acknowledge with empty TwiML."""
    services: Services = request.app.state.services
    params = await _verified_form(request, services)
    sid = params.get("MessageSid") or params.get("SmsMessageSid") or ""
    if not sid or not params.get("From") or not params.get("To"):
        raise HTTPException(status_code=400, detail="MessageSid, From and To are required")
    try:
        num_media = int(params.get("NumMedia") or 0)
    except ValueError:
        num_media = 0
    result = await receive(
        services,
        message_sid=sid[:64],
        from_phone=normalise_phone(params["From"])[:32],
        to_phone=normalise_phone(params["To"])[:32],
        body=params.get("Body", "")[:1600],
        num_media=num_media,
    )
    if not result.duplicate:
        background.add_task(after_ack, request.app, result)
    return Response(EMPTY_TWIML, media_type="application/xml")


@router.post("/webhooks/twilio/status")
async def delivery_status(request: Request) -> Response:
    """A delivery status callback for a message we sent."""
    services: Services = request.app.state.services
    params = await _verified_form(request, services)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not sid or not status:
        raise HTTPException(status_code=400, detail="MessageSid and MessageStatus are required")

    # Our outbox id, in the callback URL the worker gave Twilio (covered by the signature).
    outbox = request.query_params.get("outbox", "")
    outbound_id = int(outbox) if outbox.isdigit() and len(outbox) < 19 else None

    def record() -> None:
        with services.unit_of_work() as db:
            record_delivery_status(
                session=db,
                message_sid=sid[:64],
                status=status,
                error_code=params.get("ErrorCode"),
                now=services.clock(),
                outbound_id=outbound_id,
            )

    await run_in_threadpool(record)
    return Response(status_code=204)


async def receive(
    services: Services,
    *,
    message_sid: str,
    from_phone: str,
    to_phone: str,
    body: str,
    num_media: int,
) -> InboundResult:
    """Store one inbound message and do what must happen before Twilio is answered."""

    def store() -> InboundResult:
        with services.unit_of_work() as db:
            return receive_inbound(
                session=db,
                message_sid=message_sid,
                from_phone=from_phone,
                to_phone=to_phone,
                body=body,
                num_media=num_media,
                now=services.clock(),
                max_chars=services.settings.max_message_chars,
            )

    return await run_in_threadpool(store)


async def after_ack(app: FastAPI, result: InboundResult) -> None:
    """The slow part, after Twilio has its answer: staff inbox event, identity check, bot.

    The bot turn (and any 911 line) is already queued with the receipt; here the dispatcher
    is only woken.
    """
    services: Services = app.state.services
    channel: SmsChannel | None = getattr(app.state, "sms", None)
    try:
        if result.conversation_public_id is not None and result.practice_id is not None:
            services.events.publish(
                Event(
                    "conversation.patient_message",
                    result.practice_id,
                    {"conversation_id": result.conversation_public_id},
                )
            )
        if result.outcome is InboundOutcome.BOT and result.text is not None:
            services.wake_turns()
        elif result.outcome is InboundOutcome.PENDING:
            await _to_bot(services, result.inbound_id)
        elif result.outcome is InboundOutcome.IDENTITY:
            await _check_identity(services, result.inbound_id, code_sender(app))
    finally:
        if channel is not None:
            channel.worker.wake()  # keyword answers and bot replies go out now


def code_sender(app: FastAPI) -> CodeSender:
    """The app's code sender (tests and sandboxes set `app.state.code_sender`), else SMS."""
    sender: CodeSender | None = getattr(app.state, "code_sender", None)
    return sender or SmsCodeSender()


async def _to_bot(services: Services, inbound_id: int) -> None:
    """Queue the turn of a text stored before the queue existed (or never queued)."""

    def queue() -> bool:
        with services.unit_of_work() as db:
            inbound = db.get_one(InboundSms, inbound_id)
            if inbound.processed_at is not None or inbound.bot_text is None:
                return False
            message = db.get(Message, inbound.message_id) if inbound.message_id else None
            conversation = db.get(Conversation, message.conversation_id) if message else None
            if conversation is None:
                return False
            queue_bot_turn(session=db, inbound=inbound, conversation=conversation)
            inbound.outcome = InboundOutcome.BOT
            inbound.processed_at = services.clock()
            return True

    if await run_in_threadpool(queue):
        services.wake_turns()


async def _check_identity(services: Services, inbound_id: int, sender: CodeSender) -> None:
    """Check an identity text (date of birth, then code); tell the bot only the verdict."""

    def verify() -> tuple[str, SmsVerdict] | None:
        with services.unit_of_work() as db:
            inbound = db.get_one(InboundSms, inbound_id)
            if inbound.processed_at is not None or inbound.message_id is None:
                return None
            message = db.get_one(Message, inbound.message_id)
            conversation = db.get_one(Conversation, message.conversation_id)
            verdict = check_sms_identity(
                session=db,
                conversation=conversation,
                from_number=inbound.from_phone,
                text=inbound.body,
                now=services.clock(),
                sender=sender,
            )
            if verdict.status in FINAL:
                finish_identity(session=db, conversation_id=conversation.id)
                # The verdict reaches the bot as a queued turn, like any other.
                turn_queue.enqueue_turn(
                    session=db,
                    conversation=conversation,
                    text=IDENTITY_PROVIDED
                    if verdict.status in ("verified", "identified")
                    else IDENTITY_FAILED,
                    message_id=message.id,
                )
            mark_inbound_done(
                session=db,
                inbound_id=inbound_id,
                outcome=InboundOutcome.IDENTITY,
                now=services.clock(),
            )
            return conversation.public_id, verdict

    checked = await run_in_threadpool(verify)
    if checked is None:
        return
    public_id, verdict = checked
    if verdict.answer:  # not done yet (the next text is still the answer), or why it ended
        await run_in_threadpool(_ask_dob_again, services, public_id, verdict.answer)
    if verdict.status in FINAL:
        services.wake_turns()  # the verdict was queued as the conversation's next turn


def _ask_dob_again(services: Services, public_id: str, answer: str) -> None:
    with services.unit_of_work() as db:
        conversation = conversations.get_conversation(session=db, public_id=public_id)
        if conversation is None:
            return
        conversations.record_outgoing_message(
            session=db,
            conversation=conversation,
            role=Role.BOT,
            text=answer,
        )


async def retry_pending(app: FastAPI) -> int:
    """Hand on inbound messages stored before a restart or while the bot was down."""
    services: Services = app.state.services
    now = services.clock()

    def load() -> list[InboundResult]:
        with services.unit_of_work() as db:
            rows = pending_inbound(session=db, older_than=now - timedelta(seconds=20))
            results = []
            for row in rows:
                if row.received_at < now - PENDING_RETRY_WINDOW:
                    # Too old for a bot answer to make sense: staff see it in the transcript.
                    mark_inbound_done(
                        session=db, inbound_id=row.id, outcome=InboundOutcome.STAFF, now=now
                    )
                    continue
                results.append(InboundResult(row.id, row.outcome, False, row.practice_id, None))
            return results

    pending = await run_in_threadpool(load)
    for result in pending:
        if result.outcome is InboundOutcome.IDENTITY:
            await _check_identity(services, result.inbound_id, code_sender(app))
        else:
            await _to_bot(services, result.inbound_id)
    return len(pending)


# --- development sandbox page -------------------------------------------------------------


def _require_development(request: Request) -> Services:
    """The sandbox, in development and for this machine only; 404 for everyone else.

    The page shows every text the service "sent", one-time codes included, and its form
    injects texts. Development mode itself is an explicit choice, refused for a public URL
    that is not loopback (`frontdesk.settings`), and the Host header must name this machine
    (`TrustedHostMiddleware`, so a tunnel forwarding its own name is refused). Here, on top:
    only loopback clients, nothing relayed by a proxy (a forwarding header), and no form
    posted from another site.
    """
    services: Services = request.app.state.services
    client = request.client.host if request.client else ""
    forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
    if services.settings.env != "development" or not _is_loopback(client) or forwarded:
        raise HTTPException(status_code=404)
    origin = request.headers.get("origin")
    if request.method == "POST" and origin is not None:
        host = request.headers.get("host", "").lower()
        if origin == "null" or (urlsplit(origin).netloc or "").lower() != host:
            raise HTTPException(status_code=403, detail="forbidden")
    return services


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@router.get("/dev/sms")
async def sandbox_page(request: Request) -> HTMLResponse:
    """Development only: the messages the sandbox "sent", and a box to text the practice."""
    services = _require_development(request)

    def load() -> tuple[list[dict[str, Any]], list[str]]:
        with services.unit_of_work() as db:
            numbers = sandbox_numbers(session=db)
            return sandbox_messages(session=db), numbers

    messages, numbers = await run_in_threadpool(load)
    rows = "".join(
        f"<tr><td>{html.escape(m['at'][:19])}</td><td>{html.escape(m['to'])}</td>"
        f"<td>{html.escape(m['kind'])}</td><td>{html.escape(m['status'])}</td>"
        f"<td>{m['segments']} ({html.escape(m['encoding'])})</td>"
        f"<td><pre>{html.escape(m['body'])}</pre></td></tr>"
        for m in messages
    )
    options = "".join(f"<option>{html.escape(n)}</option>" for n in numbers)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>SMS sandbox</title>
<style>body{{font:14px system-ui;margin:2em}}td,th{{border-bottom:1px solid #ddd;padding:4px;
vertical-align:top;text-align:left}}pre{{margin:0;white-space:pre-wrap}}</style></head><body>
<h1>SMS sandbox (development only)</h1>
<p>No Twilio account is configured, so outgoing texts stop here. Text the practice:</p>
<form method="post" action="/dev/sms/inbound">
From <input name="from_" value="+15555550101" size="14"> To <select name="to">{options}</select>
<input name="body" size="50" placeholder="Hi, I'd like to book a physical" autofocus>
<button>Send</button></form>
<table><tr><th>at (UTC)</th><th>to</th><th>kind</th><th>status</th><th>segments</th>
<th>text</th></tr>{rows}</table></body></html>"""
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.post("/dev/sms/inbound")
async def sandbox_inbound(request: Request) -> RedirectResponse:
    """Development only: an inbound text typed on the sandbox page, handled like Twilio's."""
    services = _require_development(request)
    form = await read_form(request)
    result = await receive(
        services,
        message_sid="SMdev" + secrets.token_hex(14),
        from_phone=normalise_phone(str(form.get("from_") or ""))[:32],
        to_phone=normalise_phone(str(form.get("to") or ""))[:32],
        body=str(form.get("body") or "")[:1600],
        num_media=0,
    )
    await after_ack(request.app, result)
    return RedirectResponse("/dev/sms", status_code=303)
