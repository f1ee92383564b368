"""`/console/admin`: the practice's set-up in the console, for its admins.

Providers (add, edit, retire), their weekly hours, time off and holidays, visit types and
their rules, reminder cadence and quiet hours, SMS numbers and widget origins. Each form
edits the practice document that `frontdesk practice export` writes and is checked and
applied by the same code as a practice file (`practice_edits`); every change is audited.
Handlers only read the form, call that service and render: admins of one practice never see
or address another's set-up, because every read starts from the admin's own practice.

Forms post url-encoded fields with the session's CSRF token (and a same-origin Origin). A
valid change redirects (303) to the overview; an invalid one re-renders the form with each
problem next to its field (422).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from frontdesk.admin.practice_edits import (
    EditRejectedError,
    FieldError,
    apply_edit,
    ask_to_reschedule,
    check_document,
    describe_visits,
    practice_document,
    visits_inside,
)
from frontdesk.admin.practice_forms import (
    CHANNEL_FIELDS,
    EXCEPTION_FIELDS,
    PROVIDER_FIELDS,
    REMINDER_FIELDS,
    RULE_FIELDS,
    VISIT_FIELDS,
    Doc,
    Form,
    channel_values,
    exception_item,
    exception_key,
    provider_item,
    provider_names,
    provider_values,
    reminder_item,
    reminder_values,
    sms_number_items,
    split_list,
    visit_item,
    visit_values,
)
from frontdesk.auth.deps import read_form, require_staff, services_of, verify_csrf
from frontdesk.auth.models import StaffRole
from frontdesk.auth.service import StaffUser
from frontdesk.practices.config.schema import WEEKDAYS
from frontdesk.practices.models import Practice
from frontdesk.scheduling.models import PatientRule, VisitType
from frontdesk.scheduling.slots import find_open_slots
from frontdesk.scheduling.timeprefs import parse_time_preference
from frontdesk.web.templates import templates

router = APIRouter(prefix="/console/admin", include_in_schema=False)
Admin = Annotated[StaffUser, Depends(require_staff({StaffRole.ADMIN}))]
CSRF = [Depends(verify_csrf)]
# Confirmation after a redirect (?done=...): fixed wording, never echoed input.
DONE_TEXT = {
    "saved": "Saved. The change is live now and recorded in the audit log.",
    "unchanged": "Nothing changed.",
    "texted": "Time off saved. The patients you chose are being texted to reschedule.",
}


def _errors(errors: list[FieldError], fields: list[str]) -> dict[str, list[str]]:
    """Problems by field; those of no field on this form are shown for the whole form."""
    grouped: dict[str, list[str]] = {}
    for error in errors:
        grouped.setdefault(error.field if error.field in fields else "", []).append(error.message)
    return grouped


def _page(
    request: Request, staff: StaffUser, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, f"console/{name}", {"staff": staff, **context}, status_code=status
    )


def _done(changes: list[str], texted: bool = False) -> RedirectResponse:
    done = "texted" if texted else ("saved" if changes else "unchanged")
    return RedirectResponse(f"/console/admin?done={done}", status_code=303)


def _save(
    request: Request,
    staff: StaffUser,
    *,
    section: str,
    change: Callable[[Doc], str],
    form_page: Callable[[Doc, dict[str, list[str]]], HTMLResponse],
    fields: list[str],
) -> Response:
    """Change the document (`change` returns where its part sits), check, apply, audit."""
    services = services_of(request)
    with services.unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
        edited = copy.deepcopy(doc)
        try:
            spec = check_document(edited, prefix=change(edited))
            changes = apply_edit(
                session=session, actor_id=staff.id, spec=spec, section=section, now=services.clock()
            )
        except EditRejectedError as exc:
            session.rollback()
            return form_page(doc, _errors(exc.errors, fields))
    return _done(changes)


@dataclass(frozen=True)
class OfferedTime:
    """An open time as the preview lists it, in the practice's local time."""

    start: datetime
    end: datetime
    provider: str

    @property
    def minutes(self) -> int:
        return (self.end - self.start) // timedelta(minutes=1)


# --- overview ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request,
    staff: Admin,
    done: Annotated[str | None, Query(max_length=32)] = None,
    preview: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Everything an admin can change, and the times patients would be offered right now."""
    services = services_of(request)
    with services.unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
        offered = None
        if preview:
            practice = session.get(Practice, staff.practice_id)
            visit = session.scalar(
                select(VisitType).where(
                    VisitType.practice_id == staff.practice_id, VisitType.code == preview
                )
            )
            if practice is not None and visit is not None:
                now = services.clock()
                tz = ZoneInfo(practice.timezone)
                slots = find_open_slots(
                    session=session,
                    practice=practice,
                    visit_type=visit,
                    preference=parse_time_preference("asap", now=now, tz=tz),
                    now=now,
                    limit=5,
                )
                offered = [
                    OfferedTime(s.start.astimezone(tz), s.end.astimezone(tz), s.provider_name)
                    for s in slots
                ]
    return _page(
        request,
        staff,
        "admin_practice.html",
        {
            "doc": doc,
            "done": DONE_TEXT.get(done or ""),
            "preview": preview,
            "offered": offered,
            "exception_key": exception_key,
        },
    )


# --- providers -----------------------------------------------------------------------------


def _provider_page(
    request: Request,
    staff: StaffUser,
    doc: Doc,
    values: Form,
    editing: str | None,
    errors: dict[str, list[str]],
) -> HTMLResponse:
    context = {
        "values": values,
        "errors": errors,
        "editing": editing,
        "locations": [loc["name"] for loc in doc["locations"]],
        "weekdays": WEEKDAYS,
    }
    return _page(request, staff, "admin_provider.html", context, status=422 if errors else 200)


def _find(doc: Doc, section: str, key: str, value: str) -> int:
    for index, item in enumerate(doc.get(section, [])):
        if item.get(key) == value:
            return index
    raise HTTPException(status_code=404, detail="not found in this practice")


@router.get("/providers/new", response_class=HTMLResponse)
def new_provider(request: Request, staff: Admin) -> HTMLResponse:
    """An empty provider form."""
    with services_of(request).unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
    values = provider_values({"location": doc["locations"][0]["name"]})
    return _provider_page(request, staff, doc, values, None, {})


@router.get("/providers/edit", response_class=HTMLResponse)
def edit_provider(
    request: Request, staff: Admin, name: Annotated[str, Query(max_length=200)]
) -> HTMLResponse:
    """A provider's details and weekly hours; untick Active to retire them."""
    with services_of(request).unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
    item = doc["providers"][_find(doc, "providers", "name", name)]
    return _provider_page(request, staff, doc, provider_values(item), name, {})


@router.post("/providers/new", dependencies=CSRF)
async def add_provider(request: Request, staff: Admin) -> Response:
    """Add a provider."""
    form = await read_form(request)
    return await run_in_threadpool(_save_provider, request, staff, form, None)


@router.post("/providers/edit", dependencies=CSRF)
async def save_provider(
    request: Request, staff: Admin, name: Annotated[str, Query(max_length=200)]
) -> Response:
    """Change a provider (the name is their key in the practice file, so it stays)."""
    form = await read_form(request)
    return await run_in_threadpool(_save_provider, request, staff, form, name)


def _save_provider(request: Request, staff: StaffUser, form: Form, editing: str | None) -> Response:
    item = provider_item(form, editing or form.get("name", "").strip())

    def change(doc: Doc) -> str:
        providers = doc.setdefault("providers", [])
        if editing is None:
            providers.append(item)
            return f"providers[{len(providers) - 1}]"
        index = _find(doc, "providers", "name", editing)
        providers[index] = item
        return f"providers[{index}]"

    return _save(
        request,
        staff,
        section="providers",
        change=change,
        form_page=lambda doc, errors: _provider_page(
            request, staff, doc, provider_values(item), editing, errors
        ),
        fields=PROVIDER_FIELDS,
    )


# --- visit types ---------------------------------------------------------------------------


def _visit_page(
    request: Request,
    staff: StaffUser,
    doc: Doc,
    values: Form,
    editing: str | None,
    errors: dict[str, list[str]],
) -> HTMLResponse:
    context = {
        "values": values,
        "errors": errors,
        "editing": editing,
        "providers": provider_names(doc),
        "patient_rules": [str(rule) for rule in PatientRule],
    }
    return _page(request, staff, "admin_visit_type.html", context, status=422 if errors else 200)


@router.get("/visit-types/new", response_class=HTMLResponse)
def new_visit_type(request: Request, staff: Admin) -> HTMLResponse:
    """An empty visit type form."""
    with services_of(request).unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
    return _visit_page(request, staff, doc, visit_values({}, []), None, {})


@router.get("/visit-types/edit", response_class=HTMLResponse)
def edit_visit_type(
    request: Request, staff: Admin, code: Annotated[str, Query(max_length=64)]
) -> HTMLResponse:
    """A visit type's length and booking rules."""
    with services_of(request).unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
    item = doc["visit_types"][_find(doc, "visit_types", "code", code)]
    values = visit_values(item, provider_names(doc))
    return _visit_page(request, staff, doc, values, code, {})


@router.post("/visit-types/new", dependencies=CSRF)
async def add_visit_type(request: Request, staff: Admin) -> Response:
    """Add a visit type."""
    form = await read_form(request)
    return await run_in_threadpool(_save_visit_type, request, staff, form, None)


@router.post("/visit-types/edit", dependencies=CSRF)
async def save_visit_type(
    request: Request, staff: Admin, code: Annotated[str, Query(max_length=64)]
) -> Response:
    """Change a visit type (its code is its key in the practice file, so it stays)."""
    form = await read_form(request)
    return await run_in_threadpool(_save_visit_type, request, staff, form, code)


def _save_visit_type(
    request: Request, staff: StaffUser, form: Form, editing: str | None
) -> Response:
    code = editing or form.get("code", "").strip()

    def change(doc: Doc) -> str:
        item = visit_item(form, code, provider_names(doc))
        visits = doc.setdefault("visit_types", [])
        if editing is None:
            visits.append(item)
            return f"visit_types[{len(visits) - 1}]"
        index = _find(doc, "visit_types", "code", editing)
        visits[index] = item
        return f"visit_types[{index}]"

    def page(doc: Doc, errors: dict[str, list[str]]) -> HTMLResponse:
        names = provider_names(doc)
        values = {**visit_values(visit_item(form, code, names), names)}
        values.update({k: form.get(k, "") for k in ("minutes", *RULE_FIELDS)})
        return _visit_page(request, staff, doc, values, editing, errors)

    return _save(
        request, staff, section="visit types", change=change, form_page=page, fields=VISIT_FIELDS
    )


# --- time off and holidays -----------------------------------------------------------------


def _exception_page(
    request: Request,
    staff: StaffUser,
    doc: Doc,
    form: Form,
    errors: dict[str, list[str]],
    affected: list[Any] | None = None,
) -> HTMLResponse:
    context = {
        "values": form,
        "errors": errors,
        "providers": provider_names(doc),
        "affected": affected,
    }
    return _page(request, staff, "admin_exception.html", context, status=422 if errors else 200)


@router.get("/exceptions/new", response_class=HTMLResponse)
def new_exception(request: Request, staff: Admin) -> HTMLResponse:
    """A form for time off (one provider) or a holiday (the whole practice)."""
    with services_of(request).unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
    return _exception_page(request, staff, doc, {}, {})


@router.post("/exceptions/new", dependencies=CSRF)
async def add_exception(request: Request, staff: Admin) -> Response:
    """Add time off. Booked visits inside it are listed first; they are never cancelled."""
    form = await read_form(request)
    return await run_in_threadpool(_add_exception, request, staff, form)


def _add_exception(request: Request, staff: StaffUser, form: Form) -> Response:
    services = services_of(request)
    now = services.clock()
    with services.unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
        edited = copy.deepcopy(doc)
        edited.setdefault("exceptions", []).append(exception_item(form))
        index = len(edited["exceptions"]) - 1
        try:
            spec = check_document(edited, prefix=f"exceptions[{index}]")
            visits = visits_inside(
                session=session,
                practice_id=staff.practice_id,
                spec=spec.exceptions[index],
                now=now,
            )
            if visits and form.get("confirmed") != "yes":
                affected = describe_visits(
                    session=session, practice_id=staff.practice_id, visits=visits
                )
                return _exception_page(request, staff, doc, form, {}, affected)
            changes = apply_edit(
                session=session, actor_id=staff.id, spec=spec, section="time off", now=now
            )
        except EditRejectedError as exc:
            session.rollback()
            return _exception_page(request, staff, doc, form, _errors(exc.errors, EXCEPTION_FIELDS))
        texted = False
        if visits and "notify" in form:
            texted = (
                ask_to_reschedule(
                    session=session,
                    actor_id=staff.id,
                    practice_id=staff.practice_id,
                    visits=visits,
                    now=now,
                )
                > 0
            )
    return _done(changes, texted=texted)


@router.post("/exceptions/remove", dependencies=CSRF)
async def remove_exception(request: Request, staff: Admin) -> Response:
    """Remove time off or a holiday: those hours are bookable again at once."""
    form = await read_form(request)
    return await run_in_threadpool(_remove_exception, request, staff, form)


def _remove_exception(request: Request, staff: StaffUser, form: Form) -> Response:
    def change(doc: Doc) -> str:
        kept = [
            item for item in doc.get("exceptions", []) if exception_key(item) != form.get("key")
        ]
        if len(kept) == len(doc.get("exceptions", [])):
            raise HTTPException(status_code=404, detail="no such time off")
        doc["exceptions"] = kept
        return "exceptions"

    def page(doc: Doc, errors: dict[str, list[str]]) -> HTMLResponse:
        return _exception_page(request, staff, doc, {}, errors)

    return _save(request, staff, section="time off", change=change, form_page=page, fields=[])


# --- reminders -----------------------------------------------------------------------------


def _reminder_page(
    request: Request, staff: StaffUser, values: Form, errors: dict[str, list[str]]
) -> HTMLResponse:
    context = {"values": values, "errors": errors}
    return _page(request, staff, "admin_reminders.html", context, status=422 if errors else 200)


@router.get("/reminders", response_class=HTMLResponse)
def reminders_page(request: Request, staff: Admin) -> HTMLResponse:
    """Reminder offsets, the sending window (quiet outside it) and outreach caps."""
    with services_of(request).unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
    return _reminder_page(request, staff, reminder_values(doc.get("reminders")), {})


@router.post("/reminders", dependencies=CSRF)
async def save_reminders(request: Request, staff: Admin) -> Response:
    """Save the reminder cadence; reminders planned from now on follow it."""
    form = await read_form(request)

    def change(doc: Doc) -> str:
        doc["reminders"] = reminder_item(form)
        return "reminders"

    def page(doc: Doc, errors: dict[str, list[str]]) -> HTMLResponse:
        values = {**reminder_values(None), **form}
        values["no_show_followup"] = "on" if "no_show_followup" in form else ""
        return _reminder_page(request, staff, values, errors)

    return await run_in_threadpool(
        _save,
        request,
        staff,
        section="reminders",
        change=change,
        form_page=page,
        fields=REMINDER_FIELDS,
    )


# --- SMS numbers and widget origins --------------------------------------------------------


def _channel_page(
    request: Request, staff: StaffUser, values: Form, errors: dict[str, list[str]]
) -> HTMLResponse:
    context = {"values": values, "errors": errors}
    return _page(request, staff, "admin_channels.html", context, status=422 if errors else 200)


@router.get("/channels", response_class=HTMLResponse)
def channels_page(request: Request, staff: Admin) -> HTMLResponse:
    """The numbers patients text and the websites that may embed the chat widget."""
    with services_of(request).unit_of_work() as session:
        doc = practice_document(session=session, practice_id=staff.practice_id)
    return _channel_page(request, staff, channel_values(doc), {})


@router.post("/channels", dependencies=CSRF)
async def save_channels(request: Request, staff: Admin) -> Response:
    """Save SMS numbers (`+1555... [messaging service sid]` a line) and widget origins."""
    form = await read_form(request)

    def change(doc: Doc) -> str:
        doc["sms_numbers"] = sms_number_items(form)
        doc["widget_origins"] = split_list(form.get("widget_origins", ""), "\n")
        return ""

    def page(doc: Doc, errors: dict[str, list[str]]) -> HTMLResponse:
        return _channel_page(request, staff, {**channel_values(doc), **form}, errors)

    return await run_in_threadpool(
        _save,
        request,
        staff,
        section="channels",
        change=change,
        form_page=page,
        fields=CHANNEL_FIELDS,
    )
