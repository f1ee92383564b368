"""Sign-in and sign-out pages of the staff console (`/console/login`, `/console/logout`)."""

from __future__ import annotations

import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from frontdesk.audit.service import record_audit
from frontdesk.auth.csrf import derive_token, tokens_match
from frontdesk.auth.deps import (
    LOGIN_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    clear_session_cookie,
    cookie_secure,
    read_form,
    services_of,
    set_session_cookie,
    verify_csrf,
)
from frontdesk.auth.service import LoginPolicy, SignInStatus, authenticate, sign_in, sign_out
from frontdesk.runtime import Services
from frontdesk.web.templates import templates

router = APIRouter(prefix="/console", include_in_schema=False)
HOME = "/console"
INVALID = "That email and password do not match an active account."


def safe_next(value: str | None) -> str:
    """Only a console path may follow sign-in (no open redirect to another site)."""
    if (
        not value
        or not value.startswith(HOME)
        or value.startswith("//")
        or "\\" in value
        or value.startswith(LOGIN_PATH)
    ):
        return HOME
    return value


def _login_page(
    request: Request,
    services: Services,
    *,
    status_code: int = 200,
    error: str | None = None,
    notice: str | None = None,
    email: str = "",
    next_path: str = HOME,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    # A fresh random cookie per form: the form's token is bound to it (login CSRF).
    login_secret = secrets.token_urlsafe(24)
    key = services.settings.secret_key.get_secret_value()
    response = templates.TemplateResponse(
        request,
        "console/login.html",
        {
            "staff": None,
            "error": error,
            "notice": notice,
            "email": email,
            "next_path": next_path,
            "login_csrf": derive_token(key, "login", login_secret),
            "idle_minutes": services.settings.console_idle_timeout_minutes,
        },
        status_code=status_code,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        login_secret,
        max_age=3600,
        path=LOGIN_PATH,
        httponly=True,
        secure=cookie_secure(services.settings),
        samesite="strict",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    next: Annotated[str | None, Query()] = None,
    expired: Annotated[str | None, Query()] = None,
    signed_out: Annotated[str | None, Query()] = None,
) -> Response:
    """The sign-in form (or straight on, when a live session exists)."""
    services = services_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        with services.unit_of_work() as session:
            staff = authenticate(
                session=session,
                token=token,
                now=services.clock(),
                policy=LoginPolicy.from_settings(services.settings),
            )
        if staff is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    notice = None
    if expired:
        notice = (
            "You were signed out after "
            f"{services.settings.console_idle_timeout_minutes} minutes without activity."
        )
    elif signed_out:
        notice = "You are signed out."
    return _login_page(request, services, notice=notice, next_path=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the password; on success set the session cookie and go on."""
    services = services_of(request)
    form = await read_form(request)
    email = form.get("email", "")[:254]
    password = form.get("password", "")
    next_path = safe_next(form.get("next"))
    key = services.settings.secret_key.get_secret_value()
    login_secret = request.cookies.get(LOGIN_COOKIE, "")
    expected = derive_token(key, "login", login_secret) if login_secret else ""
    if not tokens_match(expected, form.get("csrf_token")):
        return _login_page(
            request,
            services,
            status_code=403,
            error="The sign-in form expired. Please try again.",
            email=email,
            next_path=next_path,
        )
    ip = request.client.host if request.client else "unknown"

    def attempt() -> tuple[SignInStatus, str | None, int | None]:
        with services.unit_of_work() as session:
            now = services.clock()
            result = sign_in(
                session=session,
                email=email,
                password=password,
                ip=ip,
                now=now,
                policy=LoginPolicy.from_settings(services.settings),
            )
            if result.account is not None:
                record_audit(
                    session=session,
                    actor_id=result.account.id,
                    action="staff.sign_in",
                    subject_type="staff",
                    subject_id=str(result.account.id),
                    reason=None,
                    now=now,
                )
            seconds = result.retry_after.total_seconds() if result.retry_after else None
            return result.status, result.token, math.ceil(seconds) if seconds else None

    status, token, retry_after = await run_in_threadpool(attempt)
    if status is SignInStatus.OK and token:
        response = RedirectResponse(next_path, status_code=303)
        set_session_cookie(response, token, services.settings)
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
        return response
    if status is SignInStatus.INVALID:
        return _login_page(
            request, services, status_code=401, error=INVALID, email=email, next_path=next_path
        )
    wait = max(1, math.ceil((retry_after or 60) / 60))
    return _login_page(
        request,
        services,
        status_code=429,
        error=f"Too many failed sign-ins. Please wait {wait} minute{'s' if wait > 1 else ''} "
        "and try again, or ask your administrator.",
        email=email,
        next_path=next_path,
        headers={"Retry-After": str(retry_after or 60)},
    )


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> Response:
    """End this session on the server and in the browser."""
    services = services_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    with services.unit_of_work() as session:
        now = services.clock()
        ended = sign_out(session=session, token=token, now=now)
        if ended is not None:
            record_audit(
                session=session,
                actor_id=ended.staff_id,
                action="staff.sign_out",
                subject_type="staff",
                subject_id=str(ended.staff_id),
                reason=None,
                now=now,
            )
    response = RedirectResponse(f"{LOGIN_PATH}?signed_out=1", status_code=303)
    clear_session_cookie(response, services.settings)
    return response
