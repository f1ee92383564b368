"""FastAPI dependencies for the staff console: who is signed in, and CSRF checks.

    staff: Annotated[StaffUser, Depends(require_staff())]
    admin: Annotated[StaffUser, Depends(require_staff({StaffRole.ADMIN}))]
    @router.post(..., dependencies=[Depends(verify_csrf)])

Templates put `{{ csrf_field(request) }}` in every form that POSTs; scripts send the token
from `<meta name="csrf-token">` in an `X-CSRF-Token` header.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import HTTPException, Request, WebSocketException
from markupsafe import Markup, escape
from starlette.requests import HTTPConnection
from starlette.responses import Response

from frontdesk.auth.csrf import derive_token, tokens_match
from frontdesk.auth.models import StaffRole
from frontdesk.auth.service import LoginPolicy, StaffUser, authenticate
from frontdesk.runtime import Services
from frontdesk.settings import LOOPBACK_HOSTS, Settings

SESSION_COOKIE = "frontdesk_staff"
LOGIN_COOKIE = "frontdesk_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Scripts send this on automatic refreshes (polling, live updates): not staff activity.
BACKGROUND_HEADER = "x-frontdesk-background"
LOGIN_PATH = "/console/login"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 100
WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403

__all__ = [
    "StaffRole",
    "StaffUser",
    "csrf_field",
    "csrf_token",
    "read_form",
    "require_staff",
    "signed_in_staff",
    "verify_csrf",
]


def services_of(connection: HTTPConnection) -> Services:
    """The application's collaborators."""
    services: Services = connection.app.state.services
    return services


def cookie_secure(settings: Settings) -> bool:
    """Whether the session cookie is Secure.

    Always, unless configured otherwise, except in development served over plain http on a
    loopback host, where browsers would otherwise drop the cookie (`make run` on a laptop).
    """
    if settings.session_cookie_secure is not None:
        return settings.session_cookie_secure
    url = urlsplit(settings.base_url)
    local = settings.env == "development" and (url.hostname or "") in LOOPBACK_HOSTS
    return not (local and url.scheme == "http")


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """Hand the browser its session token: HttpOnly, SameSite=Lax, Secure (see above)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.console_session_max_hours * 3600,
        path="/",
        httponly=True,
        secure=cookie_secure(settings),
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Remove the session cookie from the browser."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, secure=cookie_secure(settings), samesite="lax"
    )


def _login_redirect(connection: HTTPConnection, *, expired: bool) -> HTTPException:
    target = connection.url.path + (f"?{connection.url.query}" if connection.url.query else "")
    location = f"{LOGIN_PATH}?next={quote(target, safe='')}" + ("&expired=1" if expired else "")
    return HTTPException(status_code=303, detail="sign in first", headers={"Location": location})


def _wants_html(connection: HTTPConnection) -> bool:
    return isinstance(connection, Request) and (
        connection.method in ("GET", "HEAD") and "text/html" in connection.headers.get("accept", "")
    )


def require_staff(
    roles: set[StaffRole] | None = None,
) -> Callable[[HTTPConnection], StaffUser]:
    """A dependency that returns the signed-in staff member or refuses the request.

    Requests with `X-Frontdesk-Background: 1` (a script refreshing an open page) and WebSocket
    handshakes do not count as activity, so an unattended console still signs out after the
    idle timeout.

    Not signed in (or signed out after inactivity): a page request is redirected to the
    sign-in page and comes back afterwards; other requests get 401; a WebSocket is closed
    with 4401. Signed in without one of `roles`: 403 (WebSocket: 4403).
    """

    def dependency(connection: HTTPConnection) -> StaffUser:
        # A plain `def`: FastAPI runs it in the thread pool, so the database never blocks the loop.
        services = services_of(connection)
        token = connection.cookies.get(SESSION_COOKIE, "")
        websocket = connection.scope["type"] == "websocket"
        staff = None
        if token:
            with services.unit_of_work() as session:
                staff = authenticate(
                    session=session,
                    token=token,
                    now=services.clock(),
                    policy=LoginPolicy.from_settings(services.settings),
                    # A live socket (re)connecting is the page, not the person: a proxy that
                    # drops idle sockets must not keep an unattended console signed in.
                    touch=not websocket and connection.headers.get(BACKGROUND_HEADER) != "1",
                )
        if staff is None:
            if websocket:
                raise WebSocketException(code=WS_UNAUTHENTICATED, reason="sign in first")
            if _wants_html(connection):
                raise _login_redirect(connection, expired=bool(token))
            raise HTTPException(status_code=401, detail="sign in first")
        if roles and staff.role not in roles:
            if websocket:
                raise WebSocketException(code=WS_FORBIDDEN, reason="not allowed")
            raise HTTPException(status_code=403, detail="your role does not allow this")
        connection.state.staff = staff  # base.html shows who is signed in
        return staff

    return dependency


def signed_in_staff(connection: HTTPConnection) -> StaffUser | None:
    """The staff member `require_staff` let in for this request, if any (for templates)."""
    staff = getattr(connection.state, "staff", None)
    return staff if isinstance(staff, StaffUser) else None


def csrf_token(connection: HTTPConnection) -> str:
    """This session's CSRF token ("" when not signed in)."""
    token = connection.cookies.get(SESSION_COOKIE, "")
    if not token:
        return ""
    secret = services_of(connection).settings.secret_key.get_secret_value()
    return derive_token(secret, "csrf", token)


def csrf_field(connection: HTTPConnection) -> Markup:
    """The hidden form field every state-changing form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(csrf_token(connection))
    )


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # sandboxed documents send "null": never trust it
    host = request.headers.get("host", "")
    return (urlsplit(origin).netloc or "").lower() == host.lower()


async def read_form(request: Request) -> dict[str, str]:
    """The request's url-encoded form fields (first value of each name), read once.

    The service has no multipart parser (python-multipart is not a dependency), so console
    forms post `application/x-www-form-urlencoded`, the browser default, and handlers read
    fields here rather than with FastAPI's `Form()`. Bounded: 256 KiB, 100 fields.
    """
    cached = getattr(request.state, "form_fields", None)
    if isinstance(cached, dict):
        return cached
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise HTTPException(status_code=415, detail=f"send the form as {FORM_CONTENT_TYPE}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(status_code=413, detail="the form is too large")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(status_code=400, detail="the form could not be read") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value.replace("\x00", ""))
    request.state.form_fields = fields
    return fields


async def verify_csrf(request: Request) -> None:
    """Refuse a state-changing request without this session's CSRF token (403).

    The token comes from the `X-CSRF-Token` header or the `csrf_token` form field (url-encoded
    forms; handlers then get the fields from `read_form`). A request whose Origin names
    another site is refused too, whatever it carries.
    """
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given is None and content_type == FORM_CONTENT_TYPE:
        given = (await read_form(request)).get(CSRF_FIELD)
    if not _same_origin(request) or not tokens_match(csrf_token(request), given):
        raise HTTPException(status_code=403, detail="the form expired; reload the page and retry")
