"""The knowledge documents page (`/console/admin/knowledge`, admins): list, upload, replace,
delete and re-index a practice's documents, with the ingest's progress.

The service has no multipart parser, so the page's script (static/admin_knowledge.js) sends
a file as the raw request body, its name in the path: `POST .../documents/<name>`.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

import knowledge
from frontdesk.admin.knowledge_service import (
    MAX_DOCUMENT_BYTES,
    DocumentError,
    IngestJobs,
    delete_document,
    documents_folder,
    store_document,
)
from frontdesk.audit.service import record_audit
from frontdesk.auth.deps import require_staff, services_of, verify_csrf
from frontdesk.auth.models import StaffRole
from frontdesk.auth.service import StaffUser
from frontdesk.practices.models import Practice
from frontdesk.web.templates import templates

router = APIRouter(prefix="/console/admin/knowledge", include_in_schema=False)
Admin = Annotated[StaffUser, Depends(require_staff({StaffRole.ADMIN}))]
PAGE = "/console/admin/knowledge"


_jobs_created = threading.Lock()


def _jobs(request: Request) -> IngestJobs:
    """The app's ingest jobs, made on first use (handlers run in several threads)."""
    state = request.app.state
    with _jobs_created:
        if not hasattr(state, "knowledge_ingests"):
            state.knowledge_ingests = IngestJobs()
    jobs: IngestJobs = state.knowledge_ingests
    return jobs


def _folder(request: Request, staff: StaffUser) -> Path:
    services = services_of(request)
    with services.unit_of_work() as session:
        practice = session.get(Practice, staff.practice_id)
        seed = practice.knowledge_folder if practice else None
    return documents_folder(services.settings, slug=staff.practice_slug, seed_from=seed)


def _audit(request: Request, staff: StaffUser, action: str, name: str, reason: str) -> None:
    services = services_of(request)
    with services.unit_of_work() as session:
        record_audit(
            session=session,
            actor_id=staff.id,
            action=action,
            subject_type="knowledge_document",
            subject_id=name[:64],
            reason=reason,
            now=services.clock(),
        )


def _start_ingest(request: Request, staff: StaffUser, tasks: BackgroundTasks) -> None:
    """Queue the practice's ingest to run after the response (the page polls its status)."""
    services = services_of(request)
    kb = knowledge.shared_knowledge_base(services.settings)
    jobs = _jobs(request)
    slug = staff.practice_slug
    jobs.queue(slug)
    tasks.add_task(
        jobs.run,
        slug=slug,
        folder=_folder(request, staff),
        store=kb.store,
        on_done=lambda: kb.mark_changed(slug),
        now=services.clock,
    )


@router.get("", response_class=HTMLResponse)
def knowledge_page(request: Request, staff: Admin) -> HTMLResponse:
    """The practice's documents, how many passages of each are indexed, and the upload form."""
    folder = _folder(request, staff)
    kb = knowledge.shared_knowledge_base(services_of(request).settings)
    indexed = Counter(p.source for p in kb.store.load_snapshot(staff.practice_slug).passages)
    documents = [
        (
            path.name,
            path.stat().st_size,
            datetime.fromtimestamp(path.stat().st_mtime, UTC),
            indexed.get(path.name, 0),
        )
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".")
    ]
    return templates.TemplateResponse(
        request,
        "console/admin_knowledge.html",
        {
            "staff": staff,
            "documents": documents,
            "status": _jobs(request).status(staff.practice_slug),
            "max_mib": MAX_DOCUMENT_BYTES // 1024 // 1024,
        },
    )


@router.get("/status")
def ingest_status(request: Request, staff: Admin) -> JSONResponse:
    """The latest ingest's state and progress (polled by the page)."""
    return JSONResponse(_jobs(request).status(staff.practice_slug).as_json())


@router.post("/documents/{name}", dependencies=[Depends(verify_csrf)])
async def upload(
    request: Request,
    staff: Admin,
    name: str,
    tasks: BackgroundTasks,
    replace: Annotated[bool, Query()] = False,
) -> JSONResponse:
    """Store an uploaded document (the raw body) and re-index; 4xx with a reason if refused."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise HTTPException(status_code=413, detail="the file is too large")
    folder = await run_in_threadpool(_folder, request, staff)
    try:
        replaced = await run_in_threadpool(
            lambda: store_document(folder, name=name, content=bytes(body), replace=replace)
        )
    except DocumentError as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    action = "knowledge.replace" if replaced else "knowledge.upload"
    await run_in_threadpool(_audit, request, staff, action, name, f"{len(body)} bytes")
    await run_in_threadpool(_start_ingest, request, staff, tasks)
    return JSONResponse({"name": name, "replaced": replaced}, status_code=202)


@router.post("/documents/{name}/delete", dependencies=[Depends(verify_csrf)])
def delete(request: Request, staff: Admin, name: str, tasks: BackgroundTasks) -> Response:
    """Remove a document and re-index, so its passages stop answering."""
    try:
        delete_document(_folder(request, staff), name=name)
    except DocumentError as exc:
        raise HTTPException(status_code=exc.status, detail=str(exc)) from exc
    _audit(request, staff, "knowledge.delete", name, "removed from the knowledge base")
    _start_ingest(request, staff, tasks)
    return RedirectResponse(PAGE, status_code=303)


@router.post("/reindex", dependencies=[Depends(verify_csrf)])
def reindex(request: Request, staff: Admin, tasks: BackgroundTasks) -> Response:
    """Ingest the practice's folder again (after a failed run, or to recalibrate)."""
    _audit(request, staff, "knowledge.reindex", staff.practice_slug, "re-index requested")
    _start_ingest(request, staff, tasks)
    return RedirectResponse(PAGE, status_code=303)
