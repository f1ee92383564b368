"""The staff accounts page (`/console/admin/staff`, admins) and the one-time password page
(`/console/welcome/<token>`) an invited or reset staff member opens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from frontdesk.admin import staff_service
from frontdesk.admin.staff_links import PasswordLink, account_for_link
from frontdesk.auth.deps import LOGIN_PATH, read_form, require_staff, services_of, verify_csrf
from frontdesk.auth.models import StaffRole
from frontdesk.auth.passwords import WeakPasswordError
from frontdesk.auth.service import StaffAccountError, StaffUser, list_accounts
from frontdesk.web.templates import templates

router = APIRouter(prefix="/console", include_in_schema=False)
Admin = Annotated[StaffUser, Depends(require_staff({StaffRole.ADMIN}))]
PAGE = "/console/admin/staff"
ROLES = [role.value for role in StaffRole]


def _page(
    request: Request,
    staff: StaffUser,
    *,
    link: PasswordLink | None = None,
    link_for: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    services = services_of(request)
    with services.unit_of_work() as session:
        accounts = list_accounts(session=session, practice_id=staff.practice_id)
        rows = [
            (a.id, a.display_name, a.email, a.role.value, a.active, a.last_sign_in_at)
            for a in accounts
        ]
    url = f"{services.settings.base_url}/console/welcome/{link.token}" if link else None
    return templates.TemplateResponse(
        request,
        "console/admin_staff.html",
        {
            "staff": staff,
            "rows": rows,
            "roles": ROLES,
            "link_url": url,
            "link_expires": link.expires_at if link else None,
            "link_for": link_for,
            "error": error,
        },
        status_code=status_code,
    )


def _role(value: str) -> StaffRole:
    try:
        return StaffRole(value)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"role: one of {', '.join(ROLES)}") from exc


@router.get("/admin/staff", response_class=HTMLResponse)
def staff_page(request: Request, staff: Admin) -> HTMLResponse:
    """The practice's accounts with their roles and state, and the invitation form."""
    return _page(request, staff)


@router.post("/admin/staff", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
async def invite(request: Request, staff: Admin) -> HTMLResponse:
    """Create an account and show its one-time link (shown once; the link is not stored)."""
    form = await read_form(request)
    role = _role(form.get("role", ""))
    services = services_of(request)
    try:
        with services.unit_of_work() as session:
            account, link = staff_service.invite(
                session=session,
                practice_id=staff.practice_id,
                email=form.get("email", ""),
                display_name=form.get("name", ""),
                role=role,
                actor_id=staff.id,
                secret=services.settings.secret_key.get_secret_value(),
                now=services.clock(),
            )
            email = account.email
    except StaffAccountError as exc:
        return _page(request, staff, error=str(exc), status_code=400)
    return _page(request, staff, link=link, link_for=email, status_code=201)


@router.post(
    "/admin/staff/{account_id}/{change}",
    response_class=HTMLResponse,
    dependencies=[Depends(verify_csrf)],
)
async def change(request: Request, staff: Admin, account_id: int, change: str) -> Response:
    """Disable, enable, reset the password of, or change the role of one account."""
    form = await read_form(request)
    services = services_of(request)
    link: PasswordLink | None = None
    try:
        with services.unit_of_work() as session:
            now = services.clock()
            try:
                account = staff_service.practice_account(
                    session=session, practice_id=staff.practice_id, account_id=account_id
                )
            except LookupError as exc:
                raise HTTPException(status_code=404, detail="no such account") from exc
            if change == "disable":
                staff_service.disable(session=session, account=account, actor_id=staff.id, now=now)
            elif change == "enable":
                staff_service.enable(session=session, account=account, actor_id=staff.id, now=now)
            elif change == "role":
                role = _role(form.get("role", ""))
                staff_service.change_role(
                    session=session, account=account, role=role, actor_id=staff.id, now=now
                )
            elif change == "reset":
                link = staff_service.reset_password(
                    session=session,
                    account=account,
                    actor_id=staff.id,
                    secret=services.settings.secret_key.get_secret_value(),
                    now=now,
                )
            else:
                raise HTTPException(status_code=404, detail="no such change")
            email = account.email
    except staff_service.LastAdminError as exc:
        return _page(request, staff, error=str(exc), status_code=409)
    if link is not None:
        return _page(request, staff, link=link, link_for=email)
    return RedirectResponse(PAGE, status_code=303)


def _welcome(
    request: Request, token: str, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "console/admin_staff_welcome.html",
        {"staff": None, "token": token, "error": error},
        status_code=status_code,
    )


_DEAD_LINK = (
    "This link has expired, was already used or was replaced. Ask your administrator for a new one."
)


@router.get("/welcome/{token}", response_class=HTMLResponse)
def welcome(request: Request, token: str) -> HTMLResponse:
    """The form where the link's owner chooses a password."""
    services = services_of(request)
    with services.unit_of_work() as session:
        account = account_for_link(
            session=session,
            token=token,
            secret=services.settings.secret_key.get_secret_value(),
            now=services.clock(),
        )
    if account is None:
        return _welcome(request, "", error=_DEAD_LINK, status_code=410)
    return _welcome(request, token)


@router.post("/welcome/{token}", response_class=HTMLResponse)
async def choose_password(request: Request, token: str) -> Response:
    """Set the chosen password; the link stops working. The link itself is the credential."""
    form = await read_form(request)
    password = form.get("password", "")
    if password != form.get("confirm", ""):
        return _welcome(request, token, error="The two passwords differ.", status_code=400)
    services = services_of(request)
    try:
        with services.unit_of_work() as session:
            account = account_for_link(
                session=session,
                token=token,
                secret=services.settings.secret_key.get_secret_value(),
                now=services.clock(),
            )
            if account is None:
                return _welcome(request, "", error=_DEAD_LINK, status_code=410)
            staff_service.choose_password(
                session=session, account=account, password=password, now=services.clock()
            )
    except WeakPasswordError as exc:
        return _welcome(request, token, error=str(exc), status_code=400)
    return RedirectResponse(LOGIN_PATH, status_code=303)
