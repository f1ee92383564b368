"""Security headers on every response (pure ASGI: streams and sockets pass untouched).

Every response says `nosniff`, a same-origin referrer policy and that no other site may frame
it, and carries HSTS when the service is reached over https. Pages get a content security
policy that fits what they are: the staff console the strictest (and no caching), the demo
page what the chat widget needs (its shadow root is styled inline), the development-only API
docs their CDN assets. A header a handler set itself is left alone.

One page may be framed: the chat frame (`/chat/frame`), which the widget opens inside the
practice's website. Its handler sets a policy whose `frame-ancestors` lists that practice's
allowed origins (`chat_frame_policy`); `X-Frame-Options` (which cannot name origins) is left
off it, and should the handler not set a policy, the default here still refuses all framing.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_PREFIX = "/console"
DOCS_PATHS = frozenset({"/api/docs", "/api/docs/oauth2-redirect"})
HSTS = "max-age=31536000; includeSubDomains"
# Scripts and styles only from our own files: text a patient typed can never run, even if a
# template forgot to escape it. `connect-src 'self'` admits the console's live-update socket.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Everything else we serve (the demo page, the sandbox, JSON, the widget script): scripts only
# from our own files; inline styles allowed, because the widget styles its shadow root and
# host element inline and the sandbox page has a <style> block. Nothing may frame us.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (development and test only, unless enabled) loads its assets from a CDN and
# starts with an inline script.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
CHAT_FRAME_PATH = "/chat/frame"
# The chat frame: what the widget's pages need, framed only by the sites named.
CHAT_FRAME_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors {ancestors}"
)
EVERY_RESPONSE = {
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
CONSOLE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",  # pages show patient details: keep them out of caches
}


def chat_frame_policy(ancestors: str | None) -> str:
    """The chat frame's policy; `ancestors` are CSP sources (None: no site may frame it)."""
    return CHAT_FRAME_POLICY.format(ancestors=ancestors or "'none'")


def headers_for(path: str, *, https: bool) -> dict[str, str]:
    """The security headers a response to `path` carries."""
    headers = dict(EVERY_RESPONSE)
    if path == CHAT_FRAME_PATH:
        del headers["X-Frame-Options"]  # frame-ancestors decides, per practice
        headers["Content-Security-Policy"] = chat_frame_policy(None)
        headers["Cache-Control"] = "no-store"  # the policy changes with the origin list
        if https:
            headers["Strict-Transport-Security"] = HSTS
        return headers
    if https:
        headers["Strict-Transport-Security"] = HSTS
    if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
        headers.update(CONSOLE_HEADERS)
    elif path in DOCS_PATHS:
        headers["Content-Security-Policy"] = DOCS_POLICY
    else:
        headers["Content-Security-Policy"] = PAGE_POLICY
    return headers


class SecurityHeaders:
    """Adds `headers_for(path)` to every HTTP response (unless a handler set them).

    Args:
        app: The application to wrap.
        https: The service is reached over https (its public URL), so browsers get HSTS;
            a request that itself arrived over https gets it too.
    """

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        """Wrap the application."""
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response as it starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = headers_for(
            scope.get("path", ""), https=self.https or scope.get("scheme") == "https"
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
