"""Which websites may embed a practice's chat widget, and who may open the chat socket.

The chat runs in a page of our own (`/chat/frame`) that the widget opens in an iframe: the
practice's allowed origins become that page's CSP `frame-ancestors`, so the browser itself
refuses to show the chat inside any other site (`frame_ancestors`). The chat socket is then
opened by our own page, and it refuses every browser page of another origin: a site that
cannot frame the chat cannot run it on its own page either. Browsers always send an
`Origin` header on a WebSocket handshake and a page cannot forge it; clients that are not
browsers send none and can claim any, so they are let through, as the check would not stop
them anyway.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from frontdesk.audit.service import record_audit
from frontdesk.auth.models import WidgetOrigin
from frontdesk.db import clock_of, session_scope
from frontdesk.practices.models import Practice

logger = logging.getLogger(__name__)
CSP_SOURCE = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(:\*)?")
ANY_PORT = "*"
WS_ORIGIN_REFUSED = 4403


class InvalidOriginError(ValueError):
    """Not an origin of the form scheme://host[:port]."""


def normalize_origin(value: str) -> str:
    """`https://Example.org/` -> `https://example.org`; a port of `*` means any port."""
    raw = value.strip().rstrip("/")
    any_port = raw.endswith(":" + ANY_PORT)
    candidate = raw[: -len(ANY_PORT) - 1] if any_port else raw
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        raise InvalidOriginError(f"not an origin: {value!r}") from exc
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
        or (any_port and port is not None)
    ):
        raise InvalidOriginError(
            f"not an origin: {value!r} (use scheme://host or scheme://host:port)"
        )
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    if any_port:
        return f"{parts.scheme}://{host}:{ANY_PORT}"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_matches(origin: str, allowed: str) -> bool:
    """Whether a browser's Origin header value is covered by one allowed entry."""
    try:
        given = normalize_origin(origin)
    except InvalidOriginError:
        return False
    if allowed.endswith(":" + ANY_PORT):
        prefix = allowed[: -len(ANY_PORT) - 1]
        return given == prefix or given.startswith(prefix + ":")
    return given == allowed


def allowed_origins(*, session: Session, practice_id: int) -> list[str]:
    """A practice's allowed embedding origins."""
    return list(
        session.scalars(
            select(WidgetOrigin.origin)
            .where(WidgetOrigin.practice_id == practice_id)
            .order_by(WidgetOrigin.origin)
        )
    )


def allow_origin(
    *,
    session: Session,
    practice_id: int,
    origin: str,
    now: datetime,
    actor_id: int | None = None,
) -> str:
    """Allow a website to embed the practice's widget; returns the normalised origin.

    Audited (`widget_origin.allow`): an allowed origin decides who may put the practice's
    chat, and with it patients' identity checks, on their page.
    """
    normalized = normalize_origin(origin)
    if normalized not in allowed_origins(session=session, practice_id=practice_id):
        session.add(WidgetOrigin(practice_id=practice_id, origin=normalized, created_at=now))
        session.flush()
        _audit_origin(session, practice_id, "widget_origin.allow", normalized, now, actor_id)
    return normalized


def disallow_origin(
    *,
    session: Session,
    practice_id: int,
    origin: str,
    now: datetime | None = None,
    actor_id: int | None = None,
) -> bool:
    """Stop allowing an origin (audited); False when it was not allowed."""
    normalized = normalize_origin(origin)
    result = session.execute(
        delete(WidgetOrigin).where(
            WidgetOrigin.practice_id == practice_id, WidgetOrigin.origin == normalized
        )
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        when = now or clock_of(session)()
        _audit_origin(session, practice_id, "widget_origin.disallow", normalized, when, actor_id)
    return removed


def _audit_origin(
    session: Session,
    practice_id: int,
    action: str,
    origin: str,
    now: datetime,
    actor_id: int | None,
) -> None:
    record_audit(
        session=session,
        actor_id=actor_id,
        action=action,
        subject_type="widget_origin",
        subject_id=origin[:64],
        reason=origin,
        now=now,
        practice_id=practice_id,
    )


def widget_origin_allowed(
    *,
    session: Session,
    practice_slug: str,
    origin: str | None,
    host: str | None,
    service_origin: str,
) -> bool:
    """Whether a chat socket from a page of `origin` may open for this practice.

    Allowed: no Origin (not a browser) and the service's own origin (the chat frame page,
    reached by the public URL or by the very host the browser connected to). Any other site,
    the practice's allowed ones included, is refused: those embed the chat frame, which
    `frame_ancestors` lets them show, and the frame talks to us from our origin. An unknown
    practice passes here so the chat can answer "practice unknown" itself.
    """
    if origin is None:
        return True
    if origin == "null":  # sandboxed frames and local files: nothing to check against
        return False
    try:
        given = normalize_origin(origin)
    except InvalidOriginError:
        return False
    if given == normalize_origin(service_origin):
        return True
    if host and (urlsplit(given).netloc or "").lower() == host.strip().lower():
        return True
    practice_id = session.scalar(select(Practice.id).where(Practice.slug == practice_slug))
    return practice_id is None


def frame_ancestors(*, session: Session, practice_slug: str) -> str | None:
    """The CSP `frame-ancestors` sources for a practice's chat frame; None for no practice.

    Our own pages (the demo) and the practice's allowed origins, in CSP's own syntax (an
    origin with `:*` allows any port, as it does here). Origins are stored normalised, so
    none can carry a space or a `;` into the header; one that somehow does is left out.
    """
    practice_id = session.scalar(select(Practice.id).where(Practice.slug == practice_slug))
    if practice_id is None:
        return None
    sources = ["'self'"]
    for origin in allowed_origins(session=session, practice_id=practice_id):
        if CSP_SOURCE.fullmatch(origin):
            sources.append(origin)
    return " ".join(sources)


async def refuse_disallowed_origin(
    websocket: WebSocket,
    practice_slug: str,
    *,
    sessions: sessionmaker[Session],
    service_origin: str,
) -> bool:
    """Close an accepted widget socket from a website the practice has not allowed.

    The widget gets an `origin_not_allowed` error frame, then close code 4403, and stops
    reconnecting. Returns True when the socket was refused.

    Args:
        websocket: the accepted widget socket, whose handshake headers are checked.
        practice_slug: the practice the widget asked to chat with.
        sessions: where to read the practice's allowed origins (one short read).
        service_origin: the service's own origin (`Settings.base_url`), always allowed.
    """

    def check() -> bool:
        with session_scope(sessions) as session:
            return widget_origin_allowed(
                session=session,
                practice_slug=practice_slug,
                origin=websocket.headers.get("origin"),
                host=websocket.headers.get("host"),
                service_origin=service_origin,
            )

    if await run_in_threadpool(check):
        return False
    logger.info("refused a widget connection from an origin the practice does not allow")
    await websocket.send_json(
        {
            "type": "error",
            "code": "origin_not_allowed",
            "message": "This chat is not enabled on this website. Please contact the practice.",
        }
    )
    await websocket.close(code=WS_ORIGIN_REFUSED, reason="origin not allowed")
    return True
