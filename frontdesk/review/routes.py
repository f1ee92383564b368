"""`/console/review`: turns the bot misunderstood, labelled or dismissed by staff (audited).

Thin handlers over `frontdesk.review.service`; every view, label, dismissal and export is
recorded in the audit chain with the review item (or the practice) as its subject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from frontdesk.audit.service import record_audit
from frontdesk.auth.deps import read_form, require_staff, services_of, verify_csrf
from frontdesk.auth.models import StaffRole
from frontdesk.auth.service import StaffUser
from frontdesk.review import service
from frontdesk.review.export import export_reviewed
from frontdesk.review.models import NEW_TOPIC
from frontdesk.web.templates import templates

router = APIRouter(prefix="/console/review", include_in_schema=False)
REVIEW_ROLES = {StaffRole.ADMIN, StaffRole.MANAGER, StaffRole.FRONT_DESK}
Reviewer = Annotated[StaffUser, Depends(require_staff(REVIEW_ROLES))]
CSRF = [Depends(verify_csrf)]
DONE = {"labelled": "Labelled.", "dismissed": "Dismissed.", "exported": "Exported."}


@router.get("", response_class=HTMLResponse)
def review_page(request: Request, staff: Reviewer, done: str | None = None) -> HTMLResponse:
    """The open review items, each with one button per intent, "new topic" and dismiss."""
    services = services_of(request)
    with services.unit_of_work() as session:
        rows = service.queue(session=session, practice_id=staff.practice_id)
        record_audit(
            session=session,
            actor_id=staff.id,
            action="review.view",
            subject_type="practice",
            subject_id=str(staff.practice_id),
            reason=f"{len(rows)} open",
            now=services.clock(),
        )
    return templates.TemplateResponse(
        request,
        "console/review.html",
        {
            "staff": staff,
            "rows": rows,
            "intents": service.domain_intents(),
            "new_topic": NEW_TOPIC,
            "done": DONE.get(done or ""),
            "exported": request.query_params.get("count"),
        },
    )


async def _act(request: Request, staff: StaffUser, item_id: int, *, dismiss: bool) -> Response:
    form = await read_form(request)
    services = services_of(request)

    def work() -> None:
        with services.unit_of_work() as session:
            now = services.clock()
            if dismiss:
                service.dismiss_item(
                    session=session,
                    practice_id=staff.practice_id,
                    item_id=item_id,
                    staff_id=staff.id,
                    now=now,
                )
                action, reason = "review.dismiss", None
            else:
                label = form.get("label", "")
                service.label_item(
                    session=session,
                    practice_id=staff.practice_id,
                    item_id=item_id,
                    label=label,
                    staff_id=staff.id,
                    now=now,
                )
                action, reason = "review.label", label
            record_audit(
                session=session,
                actor_id=staff.id,
                action=action,
                subject_type="review_item",
                subject_id=str(item_id),
                reason=reason,
                now=now,
            )

    try:
        await run_in_threadpool(work)
    except service.ReviewError as exc:
        return Response(exc.args[0], status_code=400, media_type="text/plain")
    done = "dismissed" if dismiss else "labelled"
    return RedirectResponse(f"/console/review?done={done}", status_code=303)


@router.post("/{item_id}/label", dependencies=CSRF)
async def label(request: Request, staff: Reviewer, item_id: int) -> Response:
    """Label an item with the intent the patient meant (or "new topic")."""
    return await _act(request, staff, item_id, dismiss=False)


@router.post("/{item_id}/dismiss", dependencies=CSRF)
async def dismiss(request: Request, staff: Reviewer, item_id: int) -> Response:
    """Take an item out of the queue: nothing to learn from it."""
    return await _act(request, staff, item_id, dismiss=True)


@router.post("/export", dependencies=CSRF)
def export(request: Request, staff: Reviewer) -> Response:
    """Write the labelled examples to the reviewed NLU file, as `frontdesk nlu export-reviewed`."""
    services = services_of(request)
    with services.unit_of_work() as session:
        count = export_reviewed(session=session, target=services.settings.reviewed_nlu_file)
        record_audit(
            session=session,
            actor_id=staff.id,
            action="review.export",
            subject_type="practice",
            subject_id=str(staff.practice_id),
            reason=f"{count} examples",
            now=services.clock(),
        )
    return RedirectResponse(f"/console/review?done=exported&count={count}", status_code=303)
