"""Console edits of a practice's set-up, made the way `frontdesk practice apply` makes them.

An admin page never writes rows itself. It takes the practice as `export` writes it (plain
data), changes one part from the form, turns the result into practice-file YAML and reads it
back with `parse_practice`, so the form is checked by exactly the rules a file is. The checked
document then goes through `apply_practice` (one transaction, the same refusals and diff), and
each line of the diff becomes an audit event naming the admin, with the before and after
values the diff line carries. Slot search, reminders and the bot read these rows on every
use (nothing caches them), so a change is live as soon as the request commits.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.audit.service import record_audit
from frontdesk.practices.config.canonical import practice_data
from frontdesk.practices.config.loading import PracticeFileError, parse_practice, yaml_parser
from frontdesk.practices.config.schema import ExceptionSpec, PracticeFile
from frontdesk.practices.config.state import ApplyRefusedError, apply_practice, export_practice
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.localtime import local_day_span, spoken_when
from frontdesk.scheduling.models import ACTIVE_STATUSES, Appointment
from frontdesk.sms.consent import is_opted_out
from frontdesk.sms.outbox import queue_sms

EDIT_ACTION = "practice.edit"
RESCHEDULE_ACTION = "appointment.reschedule_request"
RESCHEDULE_KIND = "reschedule_request"
# What a patient is told when time off lands on their visit: no provider, no visit reason.
RESCHEDULE_TEXT = {
    "en": (
        "{practice}: we need to move your appointment on {when}. Please reply to this text "
        "or call us to choose a new time. Your appointment has not been cancelled."
    ),
    "es": (
        "{practice}: necesitamos cambiar su cita del {when}. Responda a este mensaje o "
        "llámenos para elegir otra hora. Su cita no ha sido cancelada."
    ),
}
_ES_DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_ES_MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def _when_in(language: str, moment: datetime, tz: ZoneInfo) -> str:
    """The visit's local date and time as a patient reads it in their language."""
    if language != "es":
        return spoken_when(moment, tz)
    local = moment.astimezone(tz)
    day, month = _ES_DAYS[local.weekday()], _ES_MONTHS[local.month - 1]
    return f"{day} {local.day} de {month} a las {local:%H:%M}"


@dataclass(frozen=True)
class FieldError:
    """One problem, under the form field it belongs to ("" for the form as a whole)."""

    field: str
    message: str


class EditRejectedError(ValueError):
    """The edited practice is not valid, or applying it would lose something."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(error.message for error in errors))


def practice_document(*, session: Session, practice_id: int) -> dict[str, Any]:
    """The practice as its exported file, as plain data a form can change."""
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise LookupError(f"no practice {practice_id}")
    return practice_data(export_practice(session=session, slug=practice.slug))


def _field_of(where: str, prefix: str) -> str:
    """`providers[2].hours.monday[0]` under prefix `providers[2]` -> `hours.monday`;
    without a prefix, the top-level key (`sms_numbers[1].phone` -> `sms_numbers`)."""
    if not prefix:
        return where.split("[", 1)[0].split(".", 1)[0]
    if not where.startswith(prefix + ".") and where != prefix:
        return ""
    return where[len(prefix) :].lstrip(".").split("[", 1)[0]


def check_document(data: dict[str, Any], *, prefix: str = "") -> PracticeFile:
    """Check `data` exactly as `frontdesk practice validate` checks a file.

    Args:
        data: The whole practice document with the form's change in it.
        prefix: Where the form's part sits (`providers[2]`, `reminders`); problems under it
            are reported against the form's field names, others against the whole form.

    Raises:
        EditRejectedError: with every problem the file check finds.
    """
    text = io.StringIO()
    yaml_parser().dump(data, text)
    try:
        return parse_practice(text.getvalue())
    except PracticeFileError as exc:
        raise EditRejectedError(
            [FieldError(_field_of(p.where, prefix), p.message) for p in exc.problems]
        ) from exc


def apply_edit(
    *, session: Session, actor_id: int, spec: PracticeFile, section: str, now: datetime
) -> list[str]:
    """Apply a checked document in the caller's transaction and audit each change.

    Returns the diff lines (empty: nothing changed, nothing audited).

    Raises:
        EditRejectedError: applying would drop something still in use (nothing changed).
    """
    try:
        result = apply_practice(session=session, spec=spec, now=now)
    except ApplyRefusedError as exc:
        raise EditRejectedError([FieldError("", reason) for reason in exc.reasons]) from exc
    for line in result.changes:
        record_audit(
            session=session,
            actor_id=actor_id,
            action=EDIT_ACTION,
            subject_type="practice",
            subject_id=str(result.practice.id),
            reason=f"console {section}: {line}",
            now=now,
        )
    return result.changes


# --- time off over booked visits --------------------------------------------------------


@dataclass(frozen=True)
class AffectedVisit:
    """A booked visit inside new time off, as the confirmation step lists it."""

    appointment_id: int
    when: str
    provider: str
    visit_type: str
    can_text: bool  # a phone on file and not opted out


def exception_window(spec: ExceptionSpec, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC range an exception blocks (whole local days, or its local start and end)."""
    if spec.first_day is not None:
        last: date = spec.last_day or spec.first_day
        return local_day_span(spec.first_day, tz)[0], local_day_span(last, tz)[1]
    assert spec.starts is not None and spec.ends is not None
    return (
        spec.starts.replace(tzinfo=tz).astimezone(UTC),
        spec.ends.replace(tzinfo=tz).astimezone(UTC),
    )


def visits_inside(
    *, session: Session, practice_id: int, spec: ExceptionSpec, now: datetime
) -> list[Appointment]:
    """Upcoming booked or confirmed visits the exception would cover, earliest first."""
    practice = session.get(Practice, practice_id)
    assert practice is not None
    start, end = exception_window(spec, ZoneInfo(practice.timezone))
    query = (
        select(Appointment)
        .where(Appointment.practice_id == practice_id)
        .where(Appointment.status.in_(ACTIVE_STATUSES))
        .where(Appointment.start_at < end, Appointment.end_at > start)
        .where(Appointment.end_at > now)
        .order_by(Appointment.start_at)
    )
    if spec.provider is not None:
        query = query.join(Provider, Provider.id == Appointment.provider_id).where(
            Provider.display_name == spec.provider
        )
    return list(session.scalars(query))


def describe_visits(
    *, session: Session, practice_id: int, visits: list[Appointment]
) -> list[AffectedVisit]:
    """What the confirmation step shows (no patient names: the time and who sees them)."""
    practice = session.get(Practice, practice_id)
    assert practice is not None
    tz = ZoneInfo(practice.timezone)
    return [
        AffectedVisit(
            appointment_id=visit.id,
            when=spoken_when(visit.start_at, tz),
            provider=visit.provider.display_name,
            visit_type=visit.visit_type.name if visit.visit_type else "",
            can_text=bool(
                visit.patient
                and visit.patient.phone
                and not is_opted_out(
                    session=session, practice_id=practice_id, phone=visit.patient.phone
                )
            ),
        )
        for visit in visits
    ]


def ask_to_reschedule(
    *,
    session: Session,
    actor_id: int,
    practice_id: int,
    visits: list[Appointment],
    now: datetime,
) -> int:
    """Text each visit's patient to choose a new time, through the outbox; returns how many.

    Visits stay booked: staff or the patient move them. Opted-out numbers get nothing
    (`queue_sms` refuses them); each text is sent at most once per visit and start time.
    """
    practice = session.get(Practice, practice_id)
    assert practice is not None
    tz = ZoneInfo(practice.timezone)
    queued = 0
    for visit in visits:
        patient = visit.patient
        if patient is None or not patient.phone:
            continue
        language = (patient.preferred_language or "en")[:2]
        if language not in RESCHEDULE_TEXT:
            language = "en"
        body = RESCHEDULE_TEXT[language].format(
            practice=practice.name, when=_when_in(language, visit.start_at, tz)
        )
        row = queue_sms(
            session=session,
            practice_id=practice_id,
            to=patient.phone,
            body=body,
            kind=RESCHEDULE_KIND,
            dedupe_key=f"reschedule:{visit.id}:{visit.start_at:%Y%m%dT%H%M}",
            not_after=visit.start_at,
        )
        if row is None:
            continue
        queued += 1
        record_audit(
            session=session,
            actor_id=actor_id,
            action=RESCHEDULE_ACTION,
            subject_type="appointment",
            subject_id=str(visit.id),
            reason="time off added over the visit: asked the patient to reschedule",
            now=now,
        )
    return queued
