"""The admin-only audit log page (`/console/audit`) and its export (CSV, JSON lines)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from frontdesk.audit.service import (
    AuditFilter,
    audit_actions,
    iter_audit,
    record_audit,
    search_audit,
    sign_in_alerts,
    verify_chain,
)
from frontdesk.auth.deps import require_staff, services_of
from frontdesk.auth.models import StaffRole
from frontdesk.auth.service import StaffUser, list_accounts
from frontdesk.web.templates import templates

router = APIRouter(prefix="/console/audit", include_in_schema=False)
Admin = Annotated[StaffUser, Depends(require_staff({StaffRole.ADMIN}))]
PAGE_SIZE = 50
ALERT_WINDOW = timedelta(hours=24)
EXPORT_FIELDS = [
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "actor_email",
    "action",
    "subject_type",
    "subject_id",
    "reason",
    "practice_id",
    "prev_hash",
    "hash",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"{name}: use YYYY-MM-DD") from exc


def audit_filter(
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=12)] = None,
    subject_type: Annotated[str | None, Query(max_length=32)] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=10, alias="from")] = None,
    until: Annotated[str | None, Query(max_length=10, alias="to")] = None,
) -> AuditFilter:
    """Filters from the query string; dates are whole UTC days, `to` inclusive."""
    first, last = _day(since, "from"), _day(until, "to")
    if actor and not actor.isdigit():
        raise HTTPException(status_code=400, detail="actor: give a staff account id")
    return AuditFilter(
        action=action or None,
        actor_id=int(actor) if actor else None,
        subject_type=subject_type or None,
        subject_id=(subject_id or "").strip() or None,
        since=datetime.combine(first, time(), UTC) if first else None,
        until=datetime.combine(last, time(), UTC) + timedelta(days=1) if last else None,
    )


Filters = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("", response_class=HTMLResponse)
def audit_page(
    request: Request,
    staff: Admin,
    where: Filters,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """List the practice's audit events with filters and paging; show whether the chain holds.

    Viewing the log is itself audited (`audit.view`, with the filters used), and admins see
    which accounts repeated failed sign-ins slowed down in the last day.
    """
    services = services_of(request)
    with services.unit_of_work() as session:
        now = services.clock()
        record_audit(
            session=session,
            actor_id=staff.id,
            action="audit.view",
            subject_type="audit_log",
            subject_id=str(staff.practice_id),
            reason=_described(request, page),
            now=now,
        )
        alerts = sign_in_alerts(
            session=session, practice_id=staff.practice_id, since=now - ALERT_WINDOW
        )
        rows, total = search_audit(
            session=session,
            practice_id=staff.practice_id,
            where=where,
            page=page,
            page_size=PAGE_SIZE,
        )
        check = verify_chain(session=session, practice_id=staff.practice_id)
        actions = audit_actions(session=session, practice_id=staff.practice_id)
        accounts = [
            (a.id, a.display_name)
            for a in list_accounts(session=session, practice_id=staff.practice_id)
        ]
    query = {k: v for k, v in request.query_params.items() if k != "page" and v}
    pages = max(1, -(-total // PAGE_SIZE))
    return templates.TemplateResponse(
        request,
        "console/audit.html",
        {
            "staff": staff,
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "check": check,
            "actions": actions,
            "accounts": accounts,
            "params": query,
            "sign_in_alerts": alerts,
        },
    )


def _described(request: Request, page: int) -> str:
    """The filters of an audit page view, as the audit event's reason."""
    used = [f"{k}={v}" for k, v in sorted(request.query_params.items()) if k != "page" and v]
    return f"page {page}" + (f"; {', '.join(used)}" if used else "")


def _csv_cell(value: object) -> object:
    # Spreadsheets run cells that start like a formula; JSON lines keep the exact text.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@router.get("/export")
def export_audit(
    request: Request,
    staff: Admin,
    where: Filters,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
) -> StreamingResponse:
    """Download the matching events, oldest first. Exporting is itself audited."""
    services = services_of(request)
    with services.unit_of_work() as session:
        record_audit(
            session=session,
            actor_id=staff.id,
            action="audit.export",
            subject_type="audit_log",
            subject_id=str(staff.practice_id),
            reason=f"export {format}",
            now=services.clock(),
        )

    def lines() -> Iterator[str]:
        with services.unit_of_work() as session:
            rows = iter_audit(session=session, practice_id=staff.practice_id, where=where)
            if format == "jsonl":
                for row in rows:
                    yield json.dumps(row.as_record(), ensure_ascii=False) + "\n"
                return
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_cell(v) for k, v in row.as_record().items()})
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            yield buffer.getvalue()

    stamp = services.clock().strftime("%Y%m%d-%H%M%S")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        lines(),
        media_type=media,
        headers={
            "Content-Disposition": (
                f'attachment; filename="audit-{staff.practice_slug}-{stamp}.{format}"'
            ),
            "Cache-Control": "no-store",
        },
    )
