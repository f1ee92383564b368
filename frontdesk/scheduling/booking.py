"""Booking, moving, confirming and cancelling appointments.

Every change of provider time is one transaction that claims or frees block rows (see
`frontdesk.scheduling.blocks`); the database's unique (provider, block) constraint settles
races, so the checks here are for good answers, not for safety. Freed time is announced
through `frontdesk.scheduling.freed_time`, where the waitlist listens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.language import Language
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.practices.wording import practice_text
from frontdesk.scheduling.blocks import block_rows, free_blocks
from frontdesk.scheduling.freed_time import announce_freed_time
from frontdesk.scheduling.models import (
    ACTIVE_STATUSES,
    SOURCE_EHR,
    Appointment,
    AppointmentBlock,
    AppointmentStatus,
    VisitType,
    WaitlistOffer,
)
from frontdesk.scheduling.rules import booking_rules, visit_type_allowed
from frontdesk.scheduling.slots import OpenSlot, is_slot_open, next_open_slots, parse_slot_key
from frontdesk.scheduling.waitlist_notices import WaitlistNotifier
from frontdesk.scheduling.waitlist_policy import DEFAULT_WAITLIST_POLICY, WaitlistPolicy


class SlotUnavailableError(Exception):
    """The requested slot cannot be booked (taken a moment ago, or outside the rules).

    Attributes:
        alternatives: The next open slots for the same visit type and provider choice, so the
            caller can say "that was just taken; here are the next ones". May be empty.
    """

    def __init__(self, message: str, alternatives: Iterable[OpenSlot] = ()) -> None:
        """Create the error with the alternatives found at the time of the refusal."""
        super().__init__(message)
        self.alternatives: list[OpenSlot] = list(alternatives)


class PatientBusyError(SlotUnavailableError):
    """The patient already has an appointment that overlaps the requested time."""


class VisitNotAllowedError(SlotUnavailableError):
    """The visit type's rules exclude this patient (for example a new-patient-only visit)."""


class AppointmentNotFoundError(LookupError):
    """No such appointment for this patient (another patient's counts as not found)."""


class AppointmentNotChangeableError(ValueError):
    """The appointment cannot be changed: it is past, cancelled, or inside the lead time.

    Attributes:
        reason: ``"past"``, ``"cancelled"``, ``"too_late"`` or ``"not_ours"`` (EHR-owned).
    """

    def __init__(self, reason: str) -> None:
        """Create the error with a machine-readable reason."""
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CancellationOutcome:
    """What cancelling did.

    Attributes:
        appointment: The cancelled appointment.
        late: Cancelled inside the practice's late-cancel window.
        offers: Waitlist offers made for the freed time.
    """

    appointment: Appointment
    late: bool
    offers: list[WaitlistOffer] = field(default_factory=list)


def _patient_overlap(
    session: Session,
    *,
    patient_id: int,
    start: datetime,
    end: datetime,
    ignore_appointment_id: int | None = None,
) -> bool:
    query = select(Appointment.id).where(
        Appointment.patient_id == patient_id,
        Appointment.status.in_(ACTIVE_STATUSES),
        Appointment.start_at < end,
        Appointment.end_at > start,
    )
    if ignore_appointment_id is not None:
        query = query.where(Appointment.id != ignore_appointment_id)
    return session.scalar(query.limit(1)) is not None


def _alternatives(
    session: Session,
    *,
    practice: Practice,
    visit_type: VisitType,
    provider_id: int | None,
    start: datetime,
    now: datetime,
) -> list[OpenSlot]:
    taken_key = OpenSlot(provider_id or 0, "", 0, "", start, start).key
    return next_open_slots(
        session=session,
        practice=practice,
        visit_type=visit_type,
        after=start,
        now=now,
        provider_id=provider_id,
        exclude=frozenset({taken_key}),
    )


def book_appointment(
    *,
    session: Session,
    practice: Practice,
    patient: Patient,
    visit_type: VisitType,
    provider_id: int,
    start: datetime,
    now: datetime,
    source: str = "webchat",
) -> Appointment:
    """Book one slot, or raise `SlotUnavailableError` (with `.alternatives`).

    The rules are re-checked here, and the unique (provider, block) constraint settles races:
    of two patients taking the same time at once, exactly one insert succeeds. The visit's
    buffers are claimed as blocks too, so no race can squeeze a visit into them. Runs in a
    savepoint so a lost race leaves the caller's transaction usable.

    Raises:
        PatientBusyError: The patient has another appointment then.
        VisitNotAllowedError: The visit type's new/established rule excludes the patient.
        SlotUnavailableError: Taken, or outside the rules; `.alternatives` holds next slots.
    """
    if patient.practice_id != practice.id or visit_type.practice_id != practice.id:
        raise SlotUnavailableError("patient or visit type belongs to another practice")
    if not visit_type_allowed(
        session=session, visit_type=visit_type, patient_id=patient.id, now=now
    ):
        raise VisitNotAllowedError("this visit type is not open to this patient")

    def refuse(message: str) -> SlotUnavailableError:
        return SlotUnavailableError(
            message,
            _alternatives(
                session,
                practice=practice,
                visit_type=visit_type,
                provider_id=provider_id,
                start=start,
                now=now,
            ),
        )

    if not is_slot_open(
        session=session,
        practice=practice,
        visit_type=visit_type,
        provider_id=provider_id,
        start=start,
        now=now,
    ):
        raise refuse("slot is not open")
    provider = session.get_one(Provider, provider_id)
    end = start + timedelta(minutes=visit_type.duration_minutes)
    if _patient_overlap(session, patient_id=patient.id, start=start, end=end):
        raise PatientBusyError("patient already has an appointment then")
    appointment = Appointment(
        practice_id=practice.id,
        provider_id=provider_id,
        location_id=provider.location_id,
        patient_id=patient.id,
        visit_type_id=visit_type.id,
        start_at=start,
        end_at=end,
        status=AppointmentStatus.BOOKED,
        source=source,
    )
    try:
        with session.begin_nested():
            session.add(appointment)
            session.flush()
            rules = booking_rules(practice, visit_type)
            session.add_all(block_rows(appointment, start, end, rules).values())
            session.flush()
    except IntegrityError as exc:
        raise refuse("slot was just taken") from exc
    return appointment


def _own_appointment(
    session: Session, *, appointment_id: int, patient_id: int | None
) -> Appointment:
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or (patient_id is not None and appointment.patient_id != patient_id):
        raise AppointmentNotFoundError(appointment_id)
    return appointment


def _check_changeable(appointment: Appointment, *, now: datetime) -> None:
    if appointment.status not in ACTIVE_STATUSES:
        raise AppointmentNotChangeableError(
            "cancelled" if appointment.status == AppointmentStatus.CANCELLED else "past"
        )
    if appointment.start_at <= now:
        raise AppointmentNotChangeableError("past")
    if appointment.source == SOURCE_EHR:
        raise AppointmentNotChangeableError("not_ours")


def reschedule_appointment(
    *,
    session: Session,
    appointment_id: int,
    patient_id: int,
    slot_key: str,
    now: datetime,
    notifier: WaitlistNotifier | None = None,
    waitlist_policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> Appointment:
    """Move an appointment to another slot, atomically.

    The new time is claimed before the old time is released, in one savepoint: if the claim
    fails (taken a moment ago), nothing about the old appointment changes. The appointment
    keeps its id (the EHR updates the same resource); a confirmed visit goes back to booked.
    The freed time is offered to the waitlist (through `notifier`, under `waitlist_policy`).

    Raises:
        AppointmentNotFoundError: No such appointment for this patient.
        AppointmentNotChangeableError: Past, cancelled, EHR-owned, or inside the lead time.
        PatientBusyError: The patient has another appointment at the new time.
        SlotUnavailableError: The new slot is not open; `.alternatives` holds next slots.
    """
    appointment = _own_appointment(session, appointment_id=appointment_id, patient_id=patient_id)
    _check_changeable(appointment, now=now)
    practice = session.get_one(Practice, appointment.practice_id)
    visit_type = session.get_one(VisitType, appointment.visit_type_id)
    rules = booking_rules(practice, visit_type)
    if appointment.start_at < now + rules.min_lead:
        raise AppointmentNotChangeableError("too_late")
    try:
        provider_id, start = parse_slot_key(slot_key)
    except ValueError as exc:
        raise SlotUnavailableError("not a slot") from exc

    def refuse(message: str) -> SlotUnavailableError:
        return SlotUnavailableError(
            message,
            _alternatives(
                session,
                practice=practice,
                visit_type=visit_type,
                provider_id=provider_id,
                start=start,
                now=now,
            ),
        )

    if not is_slot_open(
        session=session,
        practice=practice,
        visit_type=visit_type,
        provider_id=provider_id,
        start=start,
        now=now,
        ignore_appointment_id=appointment.id,
    ):
        raise refuse("slot is not open")
    end = start + timedelta(minutes=visit_type.duration_minutes)
    assert appointment.patient_id is not None  # ours, never EHR-only
    if _patient_overlap(
        session,
        patient_id=appointment.patient_id,
        start=start,
        end=end,
        ignore_appointment_id=appointment.id,
    ):
        raise PatientBusyError("patient already has an appointment then")
    provider = session.get(Provider, provider_id)
    if provider is None or provider.practice_id != practice.id:
        raise refuse("no such provider")
    old_provider, old_start, old_end = (
        appointment.provider_id,
        appointment.start_at,
        appointment.end_at,
    )
    old_blocks = list(
        session.scalars(
            select(AppointmentBlock).where(AppointmentBlock.appointment_id == appointment.id)
        )
    )
    try:
        with session.begin_nested():
            wanted = block_rows(appointment, start, end, rules)
            for row in wanted.values():
                row.provider_id = provider_id
            keep = {
                b.block_start for b in old_blocks if b.provider_id == provider_id
            } & wanted.keys()
            # Claim first: only blocks this appointment does not already hold.
            session.add_all(row for block, row in wanted.items() if block not in keep)
            session.flush()
            for row in old_blocks:
                if row.block_start not in keep or row.provider_id != provider_id:
                    session.delete(row)
            appointment.provider_id = provider_id
            appointment.location_id = provider.location_id
            appointment.start_at = start
            appointment.end_at = end
            appointment.status = AppointmentStatus.BOOKED
            appointment.confirmed_at = None
            session.flush()
    except IntegrityError as exc:
        session.refresh(appointment)
        raise refuse("slot was just taken") from exc
    announce_freed_time(
        session,
        provider_id=old_provider,
        start=old_start,
        end=old_end,
        now=now,
        notifier=notifier,
        policy=waitlist_policy,
    )
    return appointment


def cancel_appointment(
    *,
    session: Session,
    appointment_id: int,
    patient_id: int | None,
    now: datetime,
    reason: str | None = None,
    by: str = "patient",
    notifier: WaitlistNotifier | None = None,
    waitlist_policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> CancellationOutcome:
    """Cancel an appointment, free its time and offer that time to the waitlist.

    Args:
        session: Database session.
        appointment_id: The appointment.
        patient_id: The verified patient asking; None when staff cancel.
        now: The current instant.
        reason: Optional short reason (kept for staff; truncated to 500 characters).
        by: Who cancelled: "patient", "staff", "ehr".
        notifier: How waitlist offers reach patients; default `ConversationNotifier`.
        waitlist_policy: The service's waitlist rules for offering the freed time.

    Raises:
        AppointmentNotFoundError: No such appointment for this patient.
        AppointmentNotChangeableError: Already cancelled, past, or EHR-owned.
    """
    appointment = _own_appointment(session, appointment_id=appointment_id, patient_id=patient_id)
    _check_changeable(appointment, now=now)
    practice = session.get_one(Practice, appointment.practice_id)
    late = is_late_cancel(practice=practice, appointment=appointment, now=now)
    free_blocks(session, appointment)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by = by[:16]
    appointment.cancel_reason = reason[:500] if reason else None
    appointment.late_cancel = late
    session.flush()
    offers = announce_freed_time(
        session,
        provider_id=appointment.provider_id,
        start=appointment.start_at,
        end=appointment.end_at,
        now=now,
        notifier=notifier,
        policy=waitlist_policy,
    )
    return CancellationOutcome(appointment=appointment, late=late, offers=offers)


def confirm_appointment(
    *, session: Session, appointment_id: int, patient_id: int, now: datetime
) -> Appointment:
    """Record that the patient confirmed they will come (idempotent).

    Raises:
        AppointmentNotFoundError: No such appointment for this patient.
        AppointmentNotChangeableError: Cancelled or past.
    """
    appointment = _own_appointment(session, appointment_id=appointment_id, patient_id=patient_id)
    _check_changeable(appointment, now=now)
    if appointment.status != AppointmentStatus.CONFIRMED:
        appointment.status = AppointmentStatus.CONFIRMED
        appointment.confirmed_at = now
        session.flush()
    return appointment


def is_late_cancel(*, practice: Practice, appointment: Appointment, now: datetime) -> bool:
    """Whether cancelling now falls inside the practice's late-cancel window."""
    window = timedelta(hours=max(0, practice.late_cancel_hours))
    return bool(window) and appointment.start_at - now < window


def cancellation_notice(
    *, session: Session, appointment: Appointment, now: datetime, language: Language = Language.EN
) -> str:
    """The practice's cancellation policy as it applies to this appointment right now.

    Told to the patient before they confirm a cancel or reschedule, for example
    "Your visit is less than 24 hours away, so cancelling now counts as a late cancellation
    (a $25 fee may apply)." The sentence is in `language`; the practice's own policy and fee
    wording are quoted as the practice wrote them, or translated in its file
    (`frontdesk.practices.wording`).
    """
    practice = session.get_one(Practice, appointment.practice_id)
    tz = ZoneInfo(practice.timezone)
    hours = max(0, practice.late_cancel_hours)
    fee = practice_text(practice, "late_cancel_fee", language, practice.late_cancel_fee_text)
    if hours == 0:
        policy = practice_text(
            practice, "cancellation_policy", language, practice.cancellation_policy
        )
        return policy or texts.text("policy.no_charge", language)
    consequence = f" ({fee})" if fee else ""
    if is_late_cancel(practice=practice, appointment=appointment, now=now):
        return texts.text("policy.late", language, hours=hours, consequence=consequence)
    deadline = appointment.start_at - timedelta(hours=hours)
    return texts.text(
        "policy.free_until",
        language,
        when=texts.moment(deadline, tz, language),
        consequence=consequence,
    )


def upcoming_appointments(*, session: Session, patient_id: int, now: datetime) -> list[Appointment]:
    """A patient's booked or confirmed appointments from now on, soonest first."""
    return list(
        session.scalars(
            select(Appointment)
            .where(
                Appointment.patient_id == patient_id,
                Appointment.status.in_(ACTIVE_STATUSES),
                Appointment.start_at >= now,
            )
            .order_by(Appointment.start_at)
        )
    )
