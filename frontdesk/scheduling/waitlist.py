"""The waitlist: patients who found nothing suitable hear first when matching time frees up.

When time frees (a cancellation, a reschedule, the EHR cancelling), the earliest-joined
matching patients are offered it in a batch (`WaitlistPolicy.batch_size`). Each offer is a
concrete slot; the first patient to accept books it through the normal booking path, so the
database settles a race between two acceptances exactly as it settles any double booking.
The others are told it is gone. If nobody in a batch accepts before the offers expire (or all
decline), `expire_waitlist_offers` offers the time to the next batch.

The waitlist hears of freed time through `frontdesk.scheduling.freed_time`: booking announces
it, and `offer_to_waitlist` is the listener `frontdesk.wiring.connect_ports` subscribes.
Offers reach patients through a `WaitlistNotifier` (`frontdesk.scheduling.waitlist_notices`).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.booking import PatientBusyError, SlotUnavailableError, book_appointment
from frontdesk.scheduling.freed_time import FreedTime
from frontdesk.scheduling.localtime import local_days
from frontdesk.scheduling.models import (
    Appointment,
    OfferStatus,
    VisitType,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from frontdesk.scheduling.rules import allowed_provider_ids, booking_rules, visit_type_allowed
from frontdesk.scheduling.slots import OpenSlot, find_open_slots, is_slot_open
from frontdesk.scheduling.timeprefs import TimePreference, parse_time_preference
from frontdesk.scheduling.waitlist_notices import ConversationNotifier, WaitlistNotifier
from frontdesk.scheduling.waitlist_policy import DEFAULT_WAITLIST_POLICY, WaitlistPolicy

logger = logging.getLogger(__name__)


class OfferGoneError(SlotUnavailableError):
    """The offer can no longer be accepted.

    Attributes:
        reason: ``"taken"`` (someone else accepted first), ``"expired"``, ``"declined"``,
            ``"accepted"`` (already accepted) or ``"unknown"`` (no such offer for this patient).
        alternatives: Next open slots for the same visit, when the time was taken.
    """

    def __init__(self, reason: str, alternatives: list[OpenSlot] | None = None) -> None:
        """Create the error with a machine-readable reason."""
        super().__init__(f"waitlist offer {reason}", alternatives or [])
        self.reason = reason


def join_waitlist(
    *,
    session: Session,
    practice_id: int,
    patient_id: int,
    visit_type_id: int,
    provider_id: int | None,
    preference_text: str,
    now: datetime,
    policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
    language: str = "en",
) -> WaitlistEntry:
    """Put a patient on the waitlist (or update their existing entry for this visit type).

    The preference is parsed now, in the practice's zone and the conversation's `language`
    ("mornings next week", "las mañanas la semana que viene"); empty text means any time in
    the next `policy.days` days.

    Raises:
        TimePreferenceError: The preference names only past days, or is not understood.
        ValueError: The patient, visit type or provider belong to another practice.
    """
    practice = session.get_one(Practice, practice_id)
    tz = ZoneInfo(practice.timezone)
    patient = session.get(Patient, patient_id)
    visit_type = session.get(VisitType, visit_type_id)
    if patient is None or patient.practice_id != practice_id:
        raise ValueError("patient belongs to another practice")
    if visit_type is None or visit_type.practice_id != practice_id:
        raise ValueError("visit type belongs to another practice")
    if provider_id is not None:
        provider = session.get(Provider, provider_id)
        if provider is None or provider.practice_id != practice_id:
            raise ValueError("provider belongs to another practice")
    text = " ".join(preference_text.split())[:500]
    today = now.astimezone(tz).date()
    if text:
        preference = parse_time_preference(text, now=now, tz=tz, language=language)
    else:
        preference = TimePreference(
            days=tuple(today + timedelta(days=i) for i in range(policy.days))
        )
    weekdays = 0
    for day in preference.days:
        weekdays |= 1 << day.weekday()
    entry = session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.practice_id == practice_id,
            WaitlistEntry.patient_id == patient_id,
            WaitlistEntry.visit_type_id == visit_type_id,
            WaitlistEntry.status == WaitlistStatus.WAITING,
        )
    )
    if entry is None:
        entry = WaitlistEntry(
            practice_id=practice_id,
            patient_id=patient_id,
            visit_type_id=visit_type_id,
            created_at=now,
        )
        session.add(entry)
    # A patient who changes their mind keeps their place in the queue.
    entry.provider_id = provider_id
    entry.preference_text = text
    entry.first_day = preference.days[0]
    entry.last_day = preference.days[-1]
    entry.weekdays = weekdays
    entry.earliest = preference.earliest
    entry.latest = preference.latest
    entry.status = WaitlistStatus.WAITING
    session.flush()
    return entry


def leave_waitlist(*, session: Session, entry_id: int, patient_id: int | None) -> WaitlistEntry:
    """Take an entry off the waitlist (the patient, or staff with `patient_id=None`).

    Raises:
        LookupError: No such entry for this patient.
    """
    entry = session.get(WaitlistEntry, entry_id)
    if entry is None or (patient_id is not None and entry.patient_id != patient_id):
        raise LookupError(entry_id)
    entry.status = WaitlistStatus.REMOVED
    session.flush()
    return entry


def _slot_for(
    session: Session,
    *,
    entry: WaitlistEntry,
    practice: Practice,
    provider_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
) -> OpenSlot | None:
    """The earliest open slot inside [start, end) that suits this entry, if any."""
    visit_type = session.get(VisitType, entry.visit_type_id)
    if visit_type is None or not visit_type.active:
        return None
    allowed = allowed_provider_ids(session=session, visit_type_id=visit_type.id)
    if allowed is not None and provider_id not in allowed:
        return None
    if not visit_type_allowed(
        session=session, visit_type=visit_type, patient_id=entry.patient_id, now=now
    ):
        return None
    tz = ZoneInfo(practice.timezone)
    duration = timedelta(minutes=visit_type.duration_minutes)
    for day in local_days(start, end, tz):
        if not entry.first_day <= day <= entry.last_day or not entry.weekdays >> day.weekday() & 1:
            continue
        # Narrow the start window to the freed time on this day and the patient's hours.
        day_start = datetime.combine(day, time.min, tzinfo=tz)
        lo = max(start, day_start).astimezone(tz)
        hi = min(end - duration, day_start + timedelta(days=1)).astimezone(tz)
        if hi < lo:
            continue
        earliest = max(entry.earliest or time.min, lo.time().replace(tzinfo=None))
        latest_bound = (
            time.max
            if hi.date() > day
            else (datetime.combine(day, hi.time().replace(tzinfo=None)) + timedelta(minutes=1))
            .time()
            .replace(second=0, microsecond=0)
        )
        latest = min(entry.latest or time.max, latest_bound)
        if latest <= earliest:
            continue
        preference = TimePreference(
            days=(day,), earliest=earliest, latest=None if latest == time.max else latest
        )
        for slot in find_open_slots(
            session=session,
            practice=practice,
            visit_type=visit_type,
            preference=preference,
            now=now,
            provider_id=provider_id,
            limit=1,
        ):
            if start <= slot.start and slot.end <= end:
                return slot
    return None


def offer_freed_time(
    *,
    session: Session,
    provider_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    notifier: WaitlistNotifier,
    policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> list[WaitlistOffer]:
    """Offer freed provider time [start, end) to the next batch of matching waitlisted patients.

    Patients are taken in the order they joined; one already offered this time (in an earlier
    batch) or holding another open offer is skipped. Each gets a concrete slot that suits
    their visit type, provider choice, days and hours. At most `policy.batch_size` patients
    are asked at once, each offer open for `policy.offer_minutes`.

    Returns:
        The offers made (possibly none).
    """
    provider = session.get(Provider, provider_id)
    if provider is None or end <= now:
        return []
    practice = session.get_one(Practice, provider.practice_id)
    tz = ZoneInfo(practice.timezone)
    ttl = timedelta(minutes=policy.offer_minutes)
    earlier = select(WaitlistOffer).where(
        WaitlistOffer.provider_id == provider_id,
        WaitlistOffer.start_at < end,
        WaitlistOffer.end_at > start,
    )
    offered_entries = {o.entry_id for o in session.scalars(earlier)}
    batch = 1 + (
        session.scalar(
            select(func.max(WaitlistOffer.batch)).where(
                WaitlistOffer.provider_id == provider_id,
                WaitlistOffer.start_at < end,
                WaitlistOffer.end_at > start,
            )
        )
        or 0
    )
    busy_entries = set(
        session.scalars(
            select(WaitlistOffer.entry_id).where(
                WaitlistOffer.practice_id == practice.id,
                WaitlistOffer.status == OfferStatus.PENDING,
                WaitlistOffer.expires_at > now,
            )
        )
    )
    days = local_days(start, end, tz)
    entries = session.scalars(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.practice_id == practice.id,
            WaitlistEntry.status == WaitlistStatus.WAITING,
            WaitlistEntry.provider_id.is_(None) | (WaitlistEntry.provider_id == provider_id),
            WaitlistEntry.first_day <= days[-1],
            WaitlistEntry.last_day >= days[0],
        )
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
    )
    offers: list[WaitlistOffer] = []
    for entry in entries:
        if len(offers) >= policy.batch_size:
            break
        if entry.id in offered_entries or entry.id in busy_entries:
            continue
        slot = _slot_for(
            session,
            entry=entry,
            practice=practice,
            provider_id=provider_id,
            start=start,
            end=end,
            now=now,
        )
        if slot is None:
            continue
        visit_type = session.get_one(VisitType, entry.visit_type_id)
        # An offer must not outlive the booking rules: it closes when the lead time begins.
        closes = min(now + ttl, slot.start - booking_rules(practice, visit_type).min_lead)
        if closes <= now:
            continue
        offer = WaitlistOffer(
            practice_id=practice.id,
            entry_id=entry.id,
            provider_id=provider_id,
            start_at=slot.start,
            end_at=slot.end,
            token=secrets.token_urlsafe(24),
            batch=batch,
            status=OfferStatus.PENDING,
            created_at=now,
            expires_at=closes,
        )
        session.add(offer)
        session.flush()
        offers.append(offer)
    for offer in offers:
        notifier.offer_made(session=session, offer=offer)
    return offers


def offer_to_waitlist(*, session: Session, freed: FreedTime) -> list[WaitlistOffer]:
    """The waitlist's listener for freed time: offer it to the next batch of patients."""
    return offer_freed_time(
        session=session,
        provider_id=freed.provider_id,
        start=freed.start,
        end=freed.end,
        now=freed.now,
        notifier=freed.notifier or ConversationNotifier(),
        policy=freed.policy,
    )


def _offer_by_token(session: Session, *, offer_token: str, patient_id: int | None) -> WaitlistOffer:
    offer = session.scalar(
        select(WaitlistOffer).where(WaitlistOffer.token == offer_token[:64]).with_for_update()
    )
    if offer is None or (patient_id is not None and offer.entry.patient_id != patient_id):
        raise OfferGoneError("unknown")
    return offer


def accept_waitlist_offer(
    *,
    session: Session,
    offer_token: str,
    patient_id: int | None,
    now: datetime,
    notifier: WaitlistNotifier | None = None,
) -> Appointment:
    """Book the offered slot for the patient; the first acceptance in a batch wins.

    Other open offers that this booking made unbookable are closed and their patients told.

    Raises:
        OfferGoneError: Someone else took it (``.alternatives`` holds next slots), it expired,
            was declined or accepted already, or the token is unknown for this patient.
        PatientBusyError: The patient has another appointment at that time.
    """
    notifier = notifier or ConversationNotifier()
    offer = _offer_by_token(session, offer_token=offer_token, patient_id=patient_id)
    if offer.status != OfferStatus.PENDING:
        raise OfferGoneError("taken" if offer.status == OfferStatus.GONE else offer.status.value)
    if offer.expires_at <= now:
        offer.status = OfferStatus.EXPIRED
        session.flush()
        raise OfferGoneError("expired")
    entry = offer.entry
    practice = session.get_one(Practice, offer.practice_id)
    try:
        appointment = book_appointment(
            session=session,
            practice=practice,
            patient=session.get_one(Patient, entry.patient_id),
            visit_type=session.get_one(VisitType, entry.visit_type_id),
            provider_id=offer.provider_id,
            start=offer.start_at,
            now=now,
            source="waitlist",
        )
    except PatientBusyError:
        raise
    except SlotUnavailableError as exc:
        offer.status = OfferStatus.GONE
        session.flush()
        raise OfferGoneError("taken", exc.alternatives) from exc
    offer.status = OfferStatus.ACCEPTED
    offer.appointment_id = appointment.id
    entry.status = WaitlistStatus.BOOKED
    session.flush()
    _close_unbookable_offers(session, offer=offer, now=now, notifier=notifier)
    return appointment


def decline_waitlist_offer(
    *,
    session: Session,
    offer_token: str,
    patient_id: int | None,
    now: datetime,
    notifier: WaitlistNotifier | None = None,
    policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> WaitlistOffer:
    """The patient does not want this time; they stay on the waitlist for the next one.

    When nobody in the batch is left to answer, the time goes to the next batch.

    Raises:
        OfferGoneError: Unknown token for this patient, or the offer is no longer open.
    """
    offer = _offer_by_token(session, offer_token=offer_token, patient_id=patient_id)
    if offer.status != OfferStatus.PENDING:
        raise OfferGoneError(offer.status.value)
    offer.status = OfferStatus.DECLINED
    session.flush()
    _next_batch_if_unanswered(session, offer=offer, now=now, notifier=notifier, policy=policy)
    return offer


def expire_waitlist_offers(
    *,
    session: Session,
    now: datetime,
    notifier: WaitlistNotifier | None = None,
    policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> int:
    """Close offers nobody answered in time, offer their time onwards, retire stale entries.

    Meant to run every few minutes from the job scheduler.

    Returns:
        How many offers expired.
    """
    expired = list(
        session.scalars(
            select(WaitlistOffer).where(
                WaitlistOffer.status == OfferStatus.PENDING, WaitlistOffer.expires_at <= now
            )
        )
    )
    for offer in expired:
        offer.status = OfferStatus.EXPIRED
    session.flush()
    for offer in expired:
        _next_batch_if_unanswered(session, offer=offer, now=now, notifier=notifier, policy=policy)
    for entry in session.scalars(
        select(WaitlistEntry).where(WaitlistEntry.status == WaitlistStatus.WAITING)
    ):
        tz = ZoneInfo(session.get_one(Practice, entry.practice_id).timezone)
        if entry.last_day < now.astimezone(tz).date():
            entry.status = WaitlistStatus.EXPIRED
    session.flush()
    return len(expired)


def _same_batch(session: Session, offer: WaitlistOffer) -> list[WaitlistOffer]:
    return list(
        session.scalars(
            select(WaitlistOffer).where(
                WaitlistOffer.provider_id == offer.provider_id,
                WaitlistOffer.batch == offer.batch,
                # One call of offer_freed_time makes one batch, all stamped with its `now`.
                WaitlistOffer.created_at == offer.created_at,
            )
        )
    )


def _next_batch_if_unanswered(
    session: Session,
    *,
    offer: WaitlistOffer,
    now: datetime,
    notifier: WaitlistNotifier | None,
    policy: WaitlistPolicy,
) -> None:
    batch = _same_batch(session, offer)
    if any(o.status in (OfferStatus.PENDING, OfferStatus.ACCEPTED) for o in batch):
        return
    offer_freed_time(
        session=session,
        provider_id=offer.provider_id,
        start=min(o.start_at for o in batch),
        end=max(o.end_at for o in batch),
        now=now,
        notifier=notifier or ConversationNotifier(),
        policy=policy,
    )


def _close_unbookable_offers(
    session: Session, *, offer: WaitlistOffer, now: datetime, notifier: WaitlistNotifier
) -> None:
    """After an acceptance, close open offers whose slot is no longer bookable."""
    entry = offer.entry
    for other in session.scalars(
        select(WaitlistOffer).where(
            WaitlistOffer.id != offer.id,
            WaitlistOffer.status == OfferStatus.PENDING,
            (WaitlistOffer.entry_id == entry.id)
            | (
                (WaitlistOffer.provider_id == offer.provider_id)
                & (WaitlistOffer.start_at < offer.end_at + timedelta(hours=2))
                & (WaitlistOffer.end_at > offer.start_at - timedelta(hours=2))
            ),
        )
    ):
        if other.entry_id == entry.id:
            other.status = OfferStatus.GONE  # the same patient has what they wanted
            continue
        practice = session.get_one(Practice, other.practice_id)
        visit_type = session.get_one(VisitType, other.entry.visit_type_id)
        if not is_slot_open(
            session=session,
            practice=practice,
            visit_type=visit_type,
            provider_id=other.provider_id,
            start=other.start_at,
            now=now,
        ):
            other.status = OfferStatus.GONE
            session.flush()
            notifier.offer_gone(session=session, offer=other)
    session.flush()
