"""Builders for exactly the rows a test needs, instead of seeding the whole demo practice.

Each builder takes keyword arguments only, gives every field a made-up default (fictional
names, 555-01xx numbers, a practice in America/New_York), adds the row, flushes and returns
it. Defaults that must be unique (a slug, a provider's name within its practice) are counted
from the rows already in the database, so they are the same whatever order tests run in.

The demo practice (`frontdesk.demo`) stays the right choice where a test is about the demo or
its data: "Dr. Patel", "Jordan Sample", its hours, its visit codes, its texting number.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from frontdesk.conversations.models import Channel, Conversation
from frontdesk.conversations.service import new_public_id
from frontdesk.patients.models import Patient
from frontdesk.patients.service import match_key
from frontdesk.practices.models import Location, Practice, Provider
from frontdesk.scheduling.blocks import block_rows
from frontdesk.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    ScheduleException,
    VisitType,
    VisitTypeProvider,
    WeeklyHours,
)
from frontdesk.scheduling.rules import booking_rules
from frontdesk.sms.models import PracticeSmsNumber

WEEKDAYS = range(5)  # Monday to Friday, as date.weekday() counts
PROVIDER_NAMES = ("Dr. Robin Ashdown", "Dr. Sasha Birchfield", "Dr. Kai Moreland")
FIRST_NAMES = ("Alex", "Blair", "Drew", "Emery", "Finley", "Harper", "Jules", "Kendall")
LAST_NAMES = ("Ashford", "Brightwater", "Calloway", "Dunmore", "Everly", "Fairbanks")


class _MadeUp(enum.Enum):
    """An argument left to the builder, where None is a value the column takes."""

    VALUE = enum.auto()


MADE_UP: Final = _MadeUp.VALUE


def _count(
    session: Session, column: InstrumentedAttribute[Any], *where: ColumnElement[bool]
) -> int:
    """How many rows of `column`'s table match `where` (the basis of unique defaults)."""
    return session.scalar(select(func.count(column)).where(*where)) or 0


def _nth(names: Sequence[str], n: int) -> str:
    """The n-th name of a list, numbered once the list runs out ("Dr. X", ..., "Dr. X 2")."""
    name = names[n % len(names)]
    return name if n < len(names) else f"{name} {n // len(names) + 1}"


def _phone(last_two: int) -> str:
    """A 555-01xx number (reserved for fiction) in E.164."""
    return f"+155555501{last_two % 100:02d}"


def practice(
    session: Session,
    *,
    slug: str | None = None,
    name: str = "Maple Street Clinic",
    timezone: str = "America/New_York",
    phone: str | None = "+15555550120",
    **fields: Any,
) -> Practice:
    """A practice (the tenant) with the model's default booking rules.

    Args:
        session: The unit of work to add it to.
        slug: Unique; ``clinic-<n>`` by default.
        name: The name patients see in texts.
        timezone: The practice's IANA zone.
        phone: The office's phone number.
        **fields: Any other `Practice` column (`min_lead_minutes`, `late_cancel_hours`, ...).
    """
    row = Practice(
        slug=slug or f"clinic-{_count(session, Practice.id) + 1}",
        name=name,
        timezone=timezone,
        phone=phone,
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def location(
    session: Session,
    *,
    practice: Practice,
    name: str | None = None,
    address: str = "12 Example Lane, Springfield",
    **fields: Any,
) -> Location:
    """A place where the practice sees patients (`name` is unique within the practice)."""
    taken = _count(session, Location.id, Location.practice_id == practice.id)
    row = Location(
        practice_id=practice.id,
        name=name or ("Main Office" if taken == 0 else f"Office {taken + 1}"),
        address=address,
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def _first_location(session: Session, practice: Practice) -> Location:
    found = session.scalar(
        select(Location).where(Location.practice_id == practice.id).order_by(Location.id)
    )
    return found or location(session, practice=practice)


def provider(
    session: Session,
    *,
    practice: Practice,
    location: Location | None = None,
    display_name: str | None = None,
    specialty: str | None = "Family medicine",
    **fields: Any,
) -> Provider:
    """A clinician at the practice, with no hours yet (see `weekly_hours`).

    Args:
        session: The unit of work to add it to.
        practice: The practice the provider works for.
        location: Where they see patients; the practice's first location, built if missing.
        display_name: Unique within the practice; made up by default.
        specialty: Shown to staff.
        **fields: Any other `Provider` column (`active`).
    """
    if location is None:
        location = _first_location(session, practice)
    taken = _count(session, Provider.id, Provider.practice_id == practice.id)
    row = Provider(
        practice_id=practice.id,
        location_id=location.id,
        display_name=display_name or _nth(PROVIDER_NAMES, taken),
        specialty=specialty,
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def weekly_hours(
    session: Session,
    *,
    provider: Provider,
    weekdays: Iterable[int] = WEEKDAYS,
    start: time = time(9, 0),
    end: time = time(17, 0),
) -> list[WeeklyHours]:
    """The provider's bookable time: `start` to `end` (practice-local) on each of `weekdays`."""
    rows = [
        WeeklyHours(
            practice_id=provider.practice_id,
            provider_id=provider.id,
            weekday=weekday,
            start_time=start,
            end_time=end,
        )
        for weekday in weekdays
    ]
    session.add_all(rows)
    session.flush()
    return rows


def visit_type(
    session: Session,
    *,
    practice: Practice,
    code: str | None = None,
    name: str | None = None,
    duration_minutes: int = 20,
    keywords: str = "",
    providers: Iterable[Provider] = (),
    **fields: Any,
) -> VisitType:
    """A kind of visit patients can book.

    Args:
        session: The unit of work to add it to.
        practice: The practice offering it.
        code: Unique within the practice; ``visit-<n>`` by default.
        name: What patients are told; "Visit <n>" by default.
        duration_minutes: A multiple of 5 (the database checks).
        keywords: Comma-separated words patients use for it.
        providers: The only providers allowed to offer it; none means every provider.
        **fields: Any other `VisitType` column (buffers, lead time, `patient_rule`).
    """
    n = _count(session, VisitType.id, VisitType.practice_id == practice.id) + 1
    row = VisitType(
        practice_id=practice.id,
        code=code or f"visit-{n}",
        name=name or f"Visit {n}",
        duration_minutes=duration_minutes,
        keywords=keywords,
        **fields,
    )
    session.add(row)
    session.flush()
    session.add_all(
        VisitTypeProvider(practice_id=practice.id, visit_type_id=row.id, provider_id=allowed.id)
        for allowed in providers
    )
    session.flush()
    return row


def patient(
    session: Session,
    *,
    practice: Practice,
    first_name: str | None = None,
    last_name: str | None = None,
    date_of_birth: date | None = None,
    phone: str | _MadeUp | None = MADE_UP,
    **fields: Any,
) -> Patient:
    """A patient of the practice, with the match key identity checks look up.

    Args:
        session: The unit of work to add it to.
        practice: Whose patient.
        first_name: Made up by default.
        last_name: Made up by default.
        date_of_birth: Distinct for each patient of the practice by default.
        phone: A 555-01xx number by default (distinct for a practice's first 50 patients);
            None for a patient with no phone on file.
        **fields: Any other `Patient` column (`email`).
    """
    n = _count(session, Patient.id, Patient.practice_id == practice.id)
    first = first_name if first_name is not None else FIRST_NAMES[n % len(FIRST_NAMES)]
    last = last_name if last_name is not None else _nth(LAST_NAMES, n // len(FIRST_NAMES))
    row = Patient(
        practice_id=practice.id,
        first_name=first,
        last_name=last,
        match_key=match_key(f"{first} {last}"),
        date_of_birth=date_of_birth or date(1980, 1, 1) + timedelta(days=37 * n),
        phone=_phone(50 + n) if isinstance(phone, _MadeUp) else phone,
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def appointment(
    session: Session,
    *,
    patient: Patient,
    provider: Provider,
    visit_type: VisitType,
    start: datetime,
    end: datetime | None = None,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    source: str = "webchat",
    **fields: Any,
) -> Appointment:
    """An appointment written directly, without the booking rules' checks (hours, lead time).

    A booked or confirmed one holds its provider time as booking does: one block row per
    5 minutes of the visit and its buffers, so the database refuses anything that overlaps
    it, and the slot search no longer offers that time. Cancelled and past ones hold none.

    Args:
        session: The unit of work to add it to.
        patient: Who the visit is for.
        provider: Who sees them (and where: the provider's location).
        visit_type: What kind of visit; its buffers are held too.
        start: An aware moment.
        end: The visit type's duration after `start` by default.
        status: Its lifecycle state.
        source: The channel it came from.
        **fields: Any other `Appointment` column (`created_at`, `confirmed_at`).
    """
    finish = end or start + timedelta(minutes=visit_type.duration_minutes)
    row = Appointment(
        practice_id=provider.practice_id,
        provider_id=provider.id,
        location_id=provider.location_id,
        patient_id=patient.id,
        visit_type_id=visit_type.id,
        start_at=start,
        end_at=finish,
        status=status,
        source=source,
        **fields,
    )
    session.add(row)
    session.flush()
    if status in ACTIVE_STATUSES:
        rules = booking_rules(session.get_one(Practice, provider.practice_id), visit_type)
        session.add_all(block_rows(row, start, finish, rules).values())
        session.flush()
    return row


def schedule_exception(
    session: Session,
    *,
    practice: Practice,
    start: datetime,
    end: datetime,
    provider: Provider | None = None,
    reason: str = "Closed",
) -> ScheduleException:
    """Time nobody can book: the provider's, or with no provider the whole practice's."""
    row = ScheduleException(
        practice_id=practice.id,
        provider_id=provider.id if provider else None,
        start_at=start,
        end_at=end,
        reason=reason,
    )
    session.add(row)
    session.flush()
    return row


def sms_number(
    session: Session,
    *,
    practice: Practice,
    phone: str | None = None,
    messaging_service_sid: str | None = None,
) -> PracticeSmsNumber:
    """A number the practice texts from (unique across practices: the `To` picks the practice)."""
    row = PracticeSmsNumber(
        practice_id=practice.id,
        phone=phone or _phone(90 + _count(session, PracticeSmsNumber.id)),
        messaging_service_sid=messaging_service_sid,
    )
    session.add(row)
    session.flush()
    return row


def conversation(
    session: Session,
    *,
    practice: Practice,
    channel: Channel = Channel.WEBCHAT,
    patient: Patient | None = None,
    verified_at: datetime | None = None,
    **fields: Any,
) -> Conversation:
    """A conversation with the practice, optionally with a known (and verified) patient."""
    row = Conversation(
        practice_id=practice.id,
        public_id=new_public_id(),
        channel=channel,
        patient_id=patient.id if patient else None,
        identity_verified_at=verified_at,
        **fields,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Clinic:
    """A practice patients can book: one provider with weekday hours and one visit type."""

    practice: Practice
    provider: Provider
    visit_type: VisitType


def clinic(
    session: Session,
    *,
    hours: tuple[time, time] = (time(8, 30), time(17, 0)),
    duration_minutes: int = 20,
    **practice_fields: Any,
) -> Clinic:
    """The usual starting point: a practice, a provider working weekdays, a visit type.

    Args:
        session: The unit of work to add it to.
        hours: The provider's local start and end time, Monday to Friday.
        duration_minutes: The visit type's length.
        **practice_fields: Passed to `practice` (`slug`, `name`, booking rules).
    """
    where = practice(session, **practice_fields)
    doctor = provider(session, practice=where)
    weekly_hours(session, provider=doctor, start=hours[0], end=hours[1])
    visit = visit_type(session, practice=where, duration_minutes=duration_minutes)
    return Clinic(practice=where, provider=doctor, visit_type=visit)
