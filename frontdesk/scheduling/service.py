"""Finding open slots and booking them.

All times are stored in UTC; provider hours are wall-clock times in the practice's zone, and
converting per day keeps daylight-saving changes right (a 9:00 start stays 9:00 local).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.patients.models import Patient
from frontdesk.practices.models import Location, Practice, Provider
from frontdesk.scheduling.models import (
    BLOCK_MINUTES,
    Appointment,
    AppointmentBlock,
    AppointmentStatus,
    VisitType,
    WeeklyHours,
)
from frontdesk.scheduling.timeprefs import TimePreference

SLOT_STEP_MINUTES = 15
# When offering several slots, keep them at least this far apart on the same day, so the
# patient gets a real choice rather than 9:00, 9:15 and 9:30.
OFFER_SPACING = timedelta(minutes=60)


class SlotUnavailableError(Exception):
    """The requested slot cannot be booked (taken a moment ago, or outside the rules)."""


class PatientBusyError(SlotUnavailableError):
    """The patient already has an appointment that overlaps the requested time."""


@dataclass(frozen=True)
class OpenSlot:
    """A bookable start time with one provider."""

    provider_id: int
    provider_name: str
    location_id: int
    location_name: str
    start: datetime  # aware, UTC
    end: datetime

    @property
    def key(self) -> str:
        """Compact, stable identifier used in button payloads: `<provider>@<UTC start>`."""
        return f"{self.provider_id}@{self.start.astimezone(UTC):%Y%m%dT%H%MZ}"


def parse_slot_key(key: str) -> tuple[int, datetime]:
    """Inverse of `OpenSlot.key`; raises ValueError on anything malformed."""
    provider, _, stamp = key.strip().partition("@")
    start = datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    return int(provider), start


def local_to_utc(day: date, wall: time, tz: ZoneInfo) -> datetime | None:
    """Convert a local wall-clock time to UTC; None if it does not exist (spring-forward gap)."""
    local = datetime.combine(day, wall, tzinfo=tz)
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return utc


def _blocks(start: datetime, end: datetime) -> list[datetime]:
    """The grid blocks [start, end) touches, on a fixed UTC grid of `BLOCK_MINUTES`.

    Rounding outwards to one grid means two overlapping visits always share a block, even
    if one starts at an odd minute (hours from 9:07, an appointment imported from an EHR).
    """
    step = timedelta(minutes=BLOCK_MINUTES)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    current = epoch + ((start - epoch) // step) * step
    out = []
    while current < end:
        out.append(current)
        current += step
    return out


def _window(preference: TimePreference, hours: WeeklyHours) -> tuple[time, time] | None:
    earliest = max(hours.start_time, preference.earliest or time.min)
    latest = hours.end_time if preference.latest is None else min(hours.end_time, preference.latest)
    return (earliest, latest) if earliest < latest else None


def _round_up(wall: time, anchor: time, step: int) -> time:
    """First time >= wall that lies on the `step`-minute grid starting at `anchor`."""
    minutes = wall.hour * 60 + wall.minute + (1 if wall.second or wall.microsecond else 0)
    base = anchor.hour * 60 + anchor.minute
    offset = (minutes - base) % step
    minutes += (step - offset) % step
    if minutes >= 24 * 60:
        return time.max
    return time(minutes // 60, minutes % 60)


def find_open_slots(
    *,
    session: Session,
    practice: Practice,
    visit_type: VisitType,
    preference: TimePreference,
    now: datetime,
    provider_id: int | None = None,
    limit: int = 3,
    exclude: frozenset[str] = frozenset(),
) -> list[OpenSlot]:
    """Up to `limit` open slots matching the preference, best first.

    Slots respect provider hours, visit length, booked time, the practice's minimum lead time
    and booking horizon. With an exact time preferred, the closest slots come first; otherwise
    the earliest, spread out across the day. `exclude` holds slot keys already offered.
    """
    tz = ZoneInfo(practice.timezone)
    earliest_start = now + timedelta(minutes=practice.min_lead_minutes)
    horizon = now + timedelta(days=practice.max_horizon_days)
    duration = timedelta(minutes=visit_type.duration_minutes)

    providers_q = select(Provider).where(
        Provider.practice_id == practice.id, Provider.active.is_(True)
    )
    if provider_id is not None:
        providers_q = providers_q.where(Provider.id == provider_id)
    providers = {p.id: p for p in session.scalars(providers_q)}
    if not providers:
        return []
    locations = {
        loc.id: loc
        for loc in session.scalars(select(Location).where(Location.practice_id == practice.id))
    }
    hours_by_provider_day: dict[tuple[int, int], list[WeeklyHours]] = {}
    for row in session.scalars(select(WeeklyHours).where(WeeklyHours.provider_id.in_(providers))):
        hours_by_provider_day.setdefault((row.provider_id, row.weekday), []).append(row)

    days = [d for d in preference.days if d >= earliest_start.astimezone(tz).date()]
    if not days:
        return []
    span_start = local_to_utc(days[0], time.min, tz) or earliest_start
    span_end = (local_to_utc(days[-1] + timedelta(days=1), time.min, tz) or horizon) + duration
    taken = {
        (b.provider_id, b.block_start)
        for b in session.scalars(
            select(AppointmentBlock).where(
                AppointmentBlock.provider_id.in_(providers),
                AppointmentBlock.block_start >= span_start,
                AppointmentBlock.block_start < span_end,
            )
        )
    }

    candidates: list[OpenSlot] = []
    for day in days:
        for pid, provider in providers.items():
            for hours in hours_by_provider_day.get((pid, day.weekday()), []):
                window = _window(preference, hours)
                if window is None:
                    continue
                wall = _round_up(window[0], hours.start_time, SLOT_STEP_MINUTES)
                while wall < window[1]:
                    start = local_to_utc(day, wall, tz)
                    wall_end = (datetime.combine(day, wall) + duration).time()
                    fits = (
                        start is not None
                        and (datetime.combine(day, wall) + duration).date() == day
                        and wall_end <= hours.end_time
                    )
                    if (
                        start is not None
                        and fits
                        and earliest_start <= start <= horizon
                        and not any((pid, b) in taken for b in _blocks(start, start + duration))
                    ):
                        location = locations[provider.location_id]
                        slot = OpenSlot(
                            provider_id=pid,
                            provider_name=provider.display_name,
                            location_id=location.id,
                            location_name=location.name,
                            start=start,
                            end=start + duration,
                        )
                        if slot.key not in exclude:
                            candidates.append(slot)
                    wall = (
                        datetime.combine(day, wall) + timedelta(minutes=SLOT_STEP_MINUTES)
                    ).time()
                    if wall == time(0, 0):
                        break
        # Enough choice already: later days would only be offered after these.
        if len(candidates) >= limit * 8 and preference.exact is None:
            break
    return _pick_offers(candidates, preference, tz, limit)


def _pick_offers(
    candidates: list[OpenSlot], preference: TimePreference, tz: ZoneInfo, limit: int
) -> list[OpenSlot]:
    if preference.exact is not None:
        target = preference.exact.hour * 60 + preference.exact.minute

        def distance(slot: OpenSlot) -> tuple[date, int, datetime, int]:
            local = slot.start.astimezone(tz)
            return (
                local.date(),
                abs(local.hour * 60 + local.minute - target),
                slot.start,
                slot.provider_id,
            )

        ordered = sorted(candidates, key=distance)
    else:
        ordered = sorted(candidates, key=lambda s: (s.start, s.provider_id))
    picked: list[OpenSlot] = []
    for slot in ordered:
        if len(picked) == limit:
            break
        if all(abs(slot.start - p.start) >= OFFER_SPACING for p in picked):
            picked.append(slot)
    for slot in ordered:  # not enough spread-out slots: fill with the rest, in order
        if len(picked) == limit:
            break
        if slot not in picked:
            picked.append(slot)
    return sorted(picked, key=lambda s: (s.start, s.provider_id))


def is_slot_open(
    *,
    session: Session,
    practice: Practice,
    visit_type: VisitType,
    provider_id: int,
    start: datetime,
    now: datetime,
) -> bool:
    """Whether `start` with `provider_id` is still bookable under every rule."""
    tz = ZoneInfo(practice.timezone)
    local = start.astimezone(tz)
    preference = TimePreference(days=(local.date(),), exact=local.time())
    return any(
        slot.start == start
        for slot in find_open_slots(
            session=session,
            practice=practice,
            visit_type=visit_type,
            preference=preference,
            now=now,
            provider_id=provider_id,
            limit=1,
        )
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
    """Book one slot, or raise `SlotUnavailableError`.

    The rules are re-checked here, and the unique (provider, block) constraint settles races:
    of two patients taking the same time at once, exactly one insert succeeds. Runs in a
    savepoint so a lost race leaves the caller's transaction usable.
    """
    if patient.practice_id != practice.id or visit_type.practice_id != practice.id:
        raise SlotUnavailableError("patient or visit type belongs to another practice")
    if not is_slot_open(
        session=session,
        practice=practice,
        visit_type=visit_type,
        provider_id=provider_id,
        start=start,
        now=now,
    ):
        raise SlotUnavailableError("slot is not open")
    provider = session.get_one(Provider, provider_id)
    end = start + timedelta(minutes=visit_type.duration_minutes)
    overlapping = session.scalar(
        select(Appointment.id).where(
            Appointment.patient_id == patient.id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.start_at < end,
            Appointment.end_at > start,
        )
    )
    if overlapping is not None:
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
            session.add_all(
                AppointmentBlock(
                    practice_id=practice.id,
                    provider_id=provider_id,
                    block_start=block,
                    appointment_id=appointment.id,
                )
                for block in _blocks(start, end)
            )
            session.flush()
    except IntegrityError as exc:
        raise SlotUnavailableError("slot was just taken") from exc
    return appointment


def upcoming_appointments(*, session: Session, patient_id: int, now: datetime) -> list[Appointment]:
    """A patient's booked appointments from now on, soonest first."""
    return list(
        session.scalars(
            select(Appointment)
            .where(
                Appointment.patient_id == patient_id,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.start_at >= now,
            )
            .order_by(Appointment.start_at)
        )
    )


def active_visit_types(*, session: Session, practice_id: int) -> list[VisitType]:
    """The visit types patients can book, in a stable order."""
    return list(
        session.scalars(
            select(VisitType)
            .where(VisitType.practice_id == practice_id, VisitType.active.is_(True))
            .order_by(VisitType.id)
        )
    )


def match_visit_type(*, session: Session, practice_id: int, text: str) -> VisitType | None:
    """The visit type a patient means, by code, name or keyword ("physical", "sick visit").

    Terms match whole words only ("ill" is not found in "bill"); the longest term wins.
    """
    wanted = " ".join(re.sub(r"[^\w']+", " ", text.lower().replace("-", " ")).split())
    if not wanted:
        return None
    best: tuple[int, VisitType] | None = None
    for visit_type in active_visit_types(session=session, practice_id=practice_id):
        terms = [visit_type.code.replace("-", " "), visit_type.name.lower()]
        terms += [k.strip().lower() for k in visit_type.keywords.split(",") if k.strip()]
        for term in terms:
            if wanted == term:
                return visit_type
            if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", wanted) and (
                best is None or len(term) > best[0]
            ):
                best = (len(term), visit_type)
    return best[1] if best else None


def active_providers(*, session: Session, practice_id: int) -> list[Provider]:
    """Providers patients can choose, in a stable order."""
    return list(
        session.scalars(
            select(Provider)
            .where(Provider.practice_id == practice_id, Provider.active.is_(True))
            .order_by(Provider.id)
        )
    )


def match_provider(*, session: Session, practice_id: int, text: str) -> Provider | None:
    """The provider a patient names ("dr patel", "Patel"), or None."""
    words = {w.strip(".,!?").lower() for w in text.split()} - {"dr", "doctor", "with", "the"}
    for provider in active_providers(session=session, practice_id=practice_id):
        names = {w.strip(".,").lower() for w in provider.display_name.split()} - {"dr", "md"}
        if words & names:
            return provider
    return None
