"""Applying a practice file as one audited change (the command line's entry point)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from frontdesk.audit.service import record_audit
from frontdesk.db import clock_of
from frontdesk.practices.config.schema import PracticeFile
from frontdesk.practices.config.state import ApplyResult, apply_practice


def apply_practice_file(*, session: Session, spec: PracticeFile, source: str) -> ApplyResult:
    """Apply `spec` and, if anything changed, record it in the practice's audit log.

    The audit event holds the change summary (set-up data, no patient details); the caller
    commits, or rolls back for a dry run, together with the changes themselves.
    """
    now = clock_of(session)()
    result = apply_practice(session=session, spec=spec, now=now)
    if result.changes:
        record_audit(
            session=session,
            actor_id=None,
            action="practice.apply",
            subject_type="practice",
            subject_id=str(result.practice.id),
            reason=f"{source}: " + "; ".join(result.changes),
            now=now,
            practice_id=result.practice.id,
        )
    return result
