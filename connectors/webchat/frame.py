"""The chat frame, `GET /chat/frame?practice=SLUG`: the web chat's own page, on our origin.

The widget script on a practice's website only draws a launcher and opens this page in a
sandboxed iframe; the chat itself (its socket, the resume token in this page's own
sessionStorage, the identity forms) runs here, out of the host page's reach. Which websites
may show it is the page's CSP `frame-ancestors`: the practice's allowed widget origins, so a
browser refuses to render the chat inside any other site.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from frontdesk.auth.headers import chat_frame_policy
from frontdesk.auth.origins import frame_ancestors
from frontdesk.db import session_scope
from frontdesk.runtime import Services

router = APIRouter()

FRAME_PAGE = resources.files("frontdesk") / "web" / "templates" / "chat" / "frame.html"
NOT_SET_UP = "This chat is not set up for that practice."


@router.get("/chat/frame", include_in_schema=False)
def chat_frame(request: Request, practice: str = "") -> Response:
    """The chat page, framable by the practice's allowed websites only."""
    services: Services = request.app.state.services
    with session_scope(services.sessions) as session:
        ancestors = frame_ancestors(session=session, practice_slug=practice)
    if ancestors is None:  # the default policy: nobody may frame a page that is no chat
        return HTMLResponse(NOT_SET_UP, status_code=404)
    return HTMLResponse(
        FRAME_PAGE.read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": chat_frame_policy(ancestors)},
    )
