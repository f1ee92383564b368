"""The manager's insights pages under `/console/insights` (admin and manager roles).

Thin handlers: parse the window, compute the figures (`frontdesk.insights.figures`), shape
them (`report`), render. Every page view, export and change of assumptions is audited with
the practice as its subject: the pages show aggregates only, never a patient.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from frontdesk.audit.service import record_audit
from frontdesk.auth.deps import read_form, require_staff, services_of, verify_csrf
from frontdesk.auth.models import StaffRole
from frontdesk.auth.service import StaffUser
from frontdesk.conversations.models import Channel
from frontdesk.experiments.report import experiment_sections
from frontdesk.insights.figures import compute_figures
from frontdesk.insights.report import TABLE_PARTS, Report, build_report, build_table, table_csv
from frontdesk.insights.value import (
    FIELDS,
    AssumptionError,
    assumptions_for,
    estimate,
    parse_assumptions,
    save_assumptions,
)
from frontdesk.insights.windows import Period, Window
from frontdesk.practices.models import Practice
from frontdesk.review.drift import drift
from frontdesk.runtime import Services
from frontdesk.web.templates import templates

router = APIRouter(prefix="/console/insights", include_in_schema=False)
INSIGHT_ROLES = {StaffRole.ADMIN, StaffRole.MANAGER}
Manager = Annotated[StaffUser, Depends(require_staff(INSIGHT_ROLES))]
ChannelChoice = Literal["all", "webchat", "sms"]
SAVED_TEXT = "Assumptions saved. The estimates below use them."


def _audit(session: Session, staff: StaffUser, services: Services, action: str, why: str) -> None:
    record_audit(
        session=session,
        actor_id=staff.id,
        action=action,
        subject_type="practice",
        subject_id=str(staff.practice_id),
        reason=why,
        now=services.clock(),
    )


def _window(
    session: Session, staff: StaffUser, services: Services, period: Period, since: str | None
) -> Window:
    zone = ZoneInfo(session.get_one(Practice, staff.practice_id).timezone)
    now = services.clock()
    if not since:
        return Window.recent(period=period, now=now, zone=zone)
    try:
        first = date.fromisoformat(since)
        return Window.covering(
            period=period, first=first, last=now.astimezone(zone).date(), zone=zone
        )
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"from: {exc}") from exc


def _report(session: Session, staff: StaffUser, window: Window, channel: ChannelChoice) -> Report:
    figures = compute_figures(
        session=session,
        practice_id=staff.practice_id,
        window=window,
        channel=None if channel == "all" else Channel(channel),
    )
    assumptions = assumptions_for(session=session, practice_id=staff.practice_id)
    return build_report(figures, estimate(figures, assumptions))


def _assumption_fields(session: Session, staff: StaffUser) -> list[tuple[str, str, str]]:
    """(form name, label, current value) of each editable assumption."""
    current = assumptions_for(session=session, practice_id=staff.practice_id)
    fields = []
    for key, label, _low, _high in FIELDS:
        value = getattr(current, key)
        if key == "visit_value_cents":
            fields.append(("visit_value", "Value of a visit ($)", f"{value / 100:.2f}"))
        else:
            fields.append((key, label, str(value)))
    return fields


@router.get("", response_class=HTMLResponse)
def insights_page(
    request: Request,
    staff: Manager,
    period: Annotated[Period, Query()] = Period.DAY,
    channel: Annotated[ChannelChoice, Query()] = "all",
    since: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    saved: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    """The practice's figures per day, week or month, with charts and the value estimate."""
    return _render(request, staff, period, channel, since, done=SAVED_TEXT if saved else None)


def _render(
    request: Request,
    staff: StaffUser,
    period: Period,
    channel: ChannelChoice,
    since: str | None,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    services = services_of(request)
    with services.unit_of_work() as session:
        window = _window(session, staff, services, period, since)
        report = _report(session, staff, window, channel)
        fields = _assumption_fields(session, staff)
        experiments = experiment_sections(
            session=session, practice_id=staff.practice_id, now=services.clock()
        )
        nlu_drift = drift(
            session=session,
            practice_id=staff.practice_id,
            now=services.clock(),
            margin=services.settings.drift_fallback_margin,
        )
        _audit(session, staff, services, "insights.view", f"{period.value} {channel}")
    query = {"period": period.value, "channel": channel, **({"from": since} if since else {})}
    return templates.TemplateResponse(
        request,
        "console/insights.html",
        {
            "staff": staff,
            "report": report,
            "figures": report.figures,
            "period": period.value,
            "channel": channel,
            "since": since or "",
            "query": query,
            "fields": fields,
            "done": done,
            "error": error,
            "months": _recent_months(report.figures.window),
            "experiments": experiments,
            "drift": nlu_drift,
        },
        status_code=status_code,
    )


def _recent_months(window: Window) -> list[str]:
    last = window.last_day
    months = []
    year, month = last.year, last.month
    for _ in range(12):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


@router.get("/export/{key}.csv")
def export_table(
    request: Request,
    staff: Manager,
    key: str,
    period: Annotated[Period, Query()] = Period.DAY,
    channel: Annotated[ChannelChoice, Query()] = "all",
    since: Annotated[str | None, Query(alias="from", max_length=10)] = None,
) -> Response:
    """One of the page's tables as CSV, for the same window and channel (audited)."""
    parts = TABLE_PARTS.get(key)
    if parts is None:
        raise HTTPException(status_code=404, detail="no such table")
    services = services_of(request)
    with services.unit_of_work() as session:
        window = _window(session, staff, services, period, since)
        figures = compute_figures(
            session=session,
            practice_id=staff.practice_id,
            window=window,
            channel=None if channel == "all" else Channel(channel),
            parts=parts,
        )
        assumptions = assumptions_for(session=session, practice_id=staff.practice_id)
        table = build_table(key, figures, estimate(figures, assumptions))
        _audit(session, staff, services, "insights.export", f"{key} {period.value} {channel}")
    stamp = services.clock().strftime("%Y%m%d")
    return Response(
        table_csv(table),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="insights-{staff.practice_slug}-{key}-{period.value}-'
                f'{stamp}.csv"'
            ),
            "Cache-Control": "no-store",
        },
    )


@router.get("/experiments/{key}.csv")
def export_experiment(request: Request, staff: Manager, key: str) -> Response:
    """One reminder experiment's arms as CSV (audited like the page)."""
    services = services_of(request)
    with services.unit_of_work() as session:
        sections = experiment_sections(
            session=session, practice_id=staff.practice_id, now=services.clock()
        )
        section = next((s for s in sections if s.key == key), None)
        if section is None:
            raise HTTPException(status_code=404, detail="no such experiment")
        _audit(session, staff, services, "insights.export", f"experiment {key}")
    stamp = services.clock().strftime("%Y%m%d")
    return Response(
        table_csv(section.table),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="insights-{staff.practice_slug}-experiment-{key}-'
                f'{stamp}.csv"'
            ),
            "Cache-Control": "no-store",
        },
    )


@router.post("/assumptions", dependencies=[Depends(verify_csrf)])
async def update_assumptions(request: Request, staff: Manager) -> Response:
    """Save the practice's value assumptions; a bad field re-renders the page and saves none."""
    form = await read_form(request)
    services = services_of(request)
    try:
        values = parse_assumptions(form)
    except AssumptionError as exc:
        return _render(request, staff, Period.DAY, "all", None, error=str(exc), status_code=400)
    with services.unit_of_work() as session:
        save_assumptions(
            session=session,
            practice_id=staff.practice_id,
            values=values,
            staff_id=staff.id,
            now=services.clock(),
        )
        _audit(session, staff, services, "insights.assumptions", "assumptions changed")
    return RedirectResponse("/console/insights?saved=1#assumptions", status_code=303)


@router.get("/summary", response_class=HTMLResponse)
def monthly_summary(
    request: Request,
    staff: Manager,
    month: Annotated[str | None, Query(max_length=7, pattern=r"^\d{4}-\d{2}$")] = None,
) -> HTMLResponse:
    """One month on one printable page (print it, or save it as PDF from the browser)."""
    services = services_of(request)
    with services.unit_of_work() as session:
        practice = session.get_one(Practice, staff.practice_id)
        zone = ZoneInfo(practice.timezone)
        today = services.clock().astimezone(zone).date()
        try:
            first = date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail="month: use YYYY-MM") from exc
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        window = Window.covering(
            period=Period.DAY, first=first, last=following - timedelta(days=1), zone=zone
        )
        report = _report(session, staff, window, "all")
        _audit(session, staff, services, "insights.summary", first.strftime("%Y-%m"))
    return templates.TemplateResponse(
        request,
        "console/insights_summary.html",
        {
            "staff": staff,
            "report": report,
            "figures": report.figures,
            "month": first.strftime("%B %Y"),
            "month_key": first.strftime("%Y-%m"),
            "generated": services.clock().astimezone(zone),
        },
    )
