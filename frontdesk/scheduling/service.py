"""Finding open slots, and booking, moving, confirming and cancelling appointments.

All times are stored in UTC; provider hours are wall-clock times in the practice's zone, and
converting per day keeps daylight-saving changes right (a 9:00 start stays 9:00 local).

Every change of provider time is one transaction that claims or frees `AppointmentBlock`
rows; the unique (provider, block) constraint is what finally refuses a double booking, so
the Python checks here are for good answers, not for safety.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, exists, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.db import UTCDateTime
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Location, Practice, Provider
from frontdesk.scheduling.models import (
    ACTIVE_STATUSES,
    BLOCK_MINUTES,
    SOURCE_EHR,
    Appointment,
    AppointmentBlock,
    AppointmentStatus,
    PatientRule,
    ScheduleException,
    VisitType,
    VisitTypeProvider,
    WeeklyHours,
)
from frontdesk.scheduling.timeprefs import TimePreference

if TYPE_CHECKING:
    from frontdesk.scheduling.waitlist import WaitlistNotifier, WaitlistOffer

logger = logging.getLogger(__name__)

SLOT_STEP_MINUTES = 15
# When offering several slots, keep them at least this far apart on the same day, so the
# patient gets a real choice rather than 9:00, 9:15 and 9:30.
OFFER_SPACING = timedelta(minutes=60)
# How many alternatives a "just taken" answer carries, and how far ahead they are sought.
ALTERNATIVES = 3
ALTERNATIVE_DAYS = 14
# Blocks are fetched for this many days at a time, so "the next five" over a busy 180-day
# schedule reads a few days of rows, not all of them.
_CHUNK_DAYS = (1, 1, 2, 4, 8, 16, 32, 64)

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_STEP = timedelta(minutes=BLOCK_MINUTES)
_STEP_SECONDS = BLOCK_MINUTES * 60


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


@dataclass(frozen=True)
class BookingRules:
    """The rules that apply to one visit type (its own values, else the practice's)."""

    min_lead: timedelta
    horizon: timedelta
    buffer_before: timedelta
    buffer_after: timedelta


def booking_rules(practice: Practice, visit_type: VisitType | None) -> BookingRules:
    """The effective lead time, horizon and buffers for a visit type at a practice."""

    def pick(name: str, default: int) -> int:
        own: int | None = getattr(visit_type, name) if visit_type is not None else None
        return max(0, default if own is None else own)

    return BookingRules(
        min_lead=timedelta(minutes=pick("min_lead_minutes", practice.min_lead_minutes)),
        horizon=timedelta(days=pick("max_horizon_days", practice.max_horizon_days)),
        buffer_before=timedelta(
            minutes=pick("buffer_before_minutes", practice.default_buffer_before_minutes)
        ),
        buffer_after=timedelta(
            minutes=pick("buffer_after_minutes", practice.default_buffer_after_minutes)
        ),
    )


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


def local_day_span(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants a local calendar day starts and ends (23 or 25 hours around DST)."""
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return start, end


def _block_index(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds()) // _STEP_SECONDS


def _block_range(start: datetime, end: datetime) -> range:
    """Indexes of the grid blocks [start, end) touches (see `_blocks`)."""
    first = _block_index(start)
    last = -(-int((end - _EPOCH).total_seconds()) // _STEP_SECONDS)  # ceiling
    return range(first, last)


def _blocks(start: datetime, end: datetime) -> list[datetime]:
    """The grid blocks [start, end) touches, on a fixed UTC grid of `BLOCK_MINUTES`.

    Rounding outwards to one grid means two overlapping visits always share a block, even
    if one starts at an odd minute (hours from 9:07, an appointment imported from an EHR).
    """
    return [_EPOCH + i * _STEP for i in _block_range(start, end)]


def _window(
    preference: TimePreference, hours_start: time, hours_end: time
) -> tuple[time, time] | None:
    earliest = max(hours_start, preference.earliest or time.min)
    latest = hours_end if preference.latest is None else min(hours_end, preference.latest)
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


def _minutes(wall: time) -> int:
    return wall.hour * 60 + wall.minute


def allowed_provider_ids(*, session: Session, visit_type_id: int) -> set[int] | None:
    """Providers allowed to see this visit type; None means every provider."""
    ids = set(
        session.scalars(
            select(VisitTypeProvider.provider_id).where(
                VisitTypeProvider.visit_type_id == visit_type_id
            )
        )
    )
    return ids or None


def _chunks(days: list[date]) -> Iterator[list[date]]:
    position = 0
    for size in (*_CHUNK_DAYS, len(days)):
        if position >= len(days):
            return
        yield days[position : position + size]
        position += size


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
    ignore_appointment_id: int | None = None,
) -> list[OpenSlot]:
    """Up to `limit` open slots matching the preference, best first.

    Slots respect provider hours, exceptions (time off, holidays), visit length and buffers,
    booked time, the visit type's allowed providers and the lead time and booking horizon
    (the visit type's own, else the practice's). With an exact time preferred, the closest
    slots come first; otherwise the earliest, spread out across the day.

    Args:
        session: Database session.
        practice: The practice whose schedule is searched.
        visit_type: What is being booked (length, rules).
        preference: Days and local time window the patient asked for.
        now: The current instant (aware).
        provider_id: Only this provider, if given.
        limit: How many slots to return at most.
        exclude: Slot keys not to offer (already offered and turned down).
        ignore_appointment_id: Treat this appointment's own time as free (rescheduling it).

    Returns:
        Open slots, in time order.
    """
    tz = ZoneInfo(practice.timezone)
    rules = booking_rules(practice, visit_type)
    earliest_start = now + rules.min_lead
    horizon = now + rules.horizon
    duration = timedelta(minutes=visit_type.duration_minutes)

    first_day = earliest_start.astimezone(tz).date()
    last_day = horizon.astimezone(tz).date()
    days = [d for d in preference.days if first_day <= d <= last_day]
    if not days:
        return []

    restricted = select(VisitTypeProvider.provider_id).where(
        VisitTypeProvider.visit_type_id == visit_type.id
    )
    providers_q = select(Provider.id, Provider.display_name, Location.id, Location.name).where(
        Provider.practice_id == practice.id,
        Provider.active.is_(True),
        Location.id == Provider.location_id,
        # A visit type without allowed providers is open to every provider.
        ~exists(restricted) | Provider.id.in_(restricted),
    )
    if provider_id is not None:
        providers_q = providers_q.where(Provider.id == provider_id)
    providers = {
        pid: (name, location_id, location_name)
        for pid, name, location_id, location_name in session.execute(
            providers_q.order_by(Provider.id)
        )
    }
    if not providers:
        return []
    hours_by_provider_day: dict[tuple[int, int], list[tuple[time, time]]] = {}
    for pid, weekday, start_time, end_time in session.execute(
        select(
            WeeklyHours.provider_id,
            WeeklyHours.weekday,
            WeeklyHours.start_time,
            WeeklyHours.end_time,
        )
        .where(
            WeeklyHours.provider_id.in_(providers),
            WeeklyHours.weekday.in_({d.weekday() for d in days}),
        )
        .order_by(WeeklyHours.start_time)
    ):
        hours_by_provider_day.setdefault((pid, weekday), []).append((start_time, end_time))

    # The scan works in whole seconds since `_EPOCH` and in block numbers: a busy 180-day
    # schedule means hundreds of thousands of candidate checks, and datetime arithmetic
    # would dominate (see bench/next_slots.py).
    earliest_s = _seconds(earliest_start)
    horizon_s = _seconds(horizon)
    duration_s = int(duration.total_seconds())
    before_s = int(rules.buffer_before.total_seconds())
    after_s = int(rules.buffer_after.total_seconds())
    excluded: set[tuple[int, int]] = set()
    for key in exclude:
        with contextlib.suppress(ValueError):
            excluded_pid, excluded_start = parse_slot_key(key)
            excluded.add((_seconds(excluded_start), excluded_pid))
    candidates: list[tuple[int, int]] = []
    closed = _exceptions(
        session,
        practice_id=practice.id,
        provider_ids=providers,
        start=local_day_span(days[0], tz)[0],
        end=local_day_span(days[-1], tz)[1],
    )
    for chunk in _chunks(days):
        span_start = local_day_span(chunk[0], tz)[0] - rules.buffer_before
        span_end = local_day_span(chunk[-1], tz)[1] + duration + rules.buffer_after
        base = _block_index(span_start) - 1
        size = _block_index(span_end) - base + 2
        busy = _busy_maps(
            session,
            provider_ids=list(providers),
            start=span_start,
            end=span_end,
            base=base,
            size=size,
            ignore_appointment_id=ignore_appointment_id,
        )
        free = bytes(size)
        for day in chunk:
            for pid in providers:
                taken = busy.get(pid, free)
                off = closed.get(pid, []) + closed.get(None, [])
                for hours in hours_by_provider_day.get((pid, day.weekday()), []):
                    for start_s in _starts(day, hours, preference, duration_s, tz):
                        if not earliest_s <= start_s <= horizon_s:
                            continue
                        end_s = start_s + duration_s
                        lo = (start_s - before_s) // _STEP_SECONDS - base
                        hi = -(-(end_s + after_s) // _STEP_SECONDS) - base
                        if 1 in taken[lo:hi]:
                            continue
                        if off and any(o_s < end_s and start_s < o_e for o_s, o_e in off):
                            continue
                        if (start_s, pid) not in excluded:
                            candidates.append((start_s, pid))
            # Without an exact time, offers are picked earliest first; once the days seen so
            # far give `limit` well-spaced offers, later days cannot change the answer.
            if preference.exact is None and len(_spaced(sorted(candidates), limit)) == limit:
                return _offers(candidates, providers, duration, preference, tz, limit)
    return _offers(candidates, providers, duration, preference, tz, limit)


def _offers(
    candidates: list[tuple[int, int]],
    providers: dict[int, tuple[str, int, str]],
    duration: timedelta,
    preference: TimePreference,
    tz: ZoneInfo,
    limit: int,
) -> list[OpenSlot]:
    """The offers among (start seconds, provider id) candidates, as `OpenSlot`s."""

    def slot(start_s: int, pid: int) -> OpenSlot:
        name, location_id, location_name = providers[pid]
        start = _EPOCH + timedelta(seconds=start_s)
        return OpenSlot(pid, name, location_id, location_name, start, start + duration)

    if preference.exact is not None:  # one or a few days: ordering needs local times
        return _pick_offers([slot(*c) for c in candidates], preference, tz, limit)
    ordered = sorted(candidates)
    picked = _spaced(ordered, limit)
    for candidate in ordered:  # not enough spread-out slots: fill with the rest, in order
        if len(picked) == limit:
            break
        if candidate not in picked:
            picked.append(candidate)
    return [slot(*c) for c in sorted(picked)]


def _spaced(ordered: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Up to `limit` (start seconds, provider) pairs, in order, each `OFFER_SPACING` apart."""
    spacing = int(OFFER_SPACING.total_seconds())
    picked: list[tuple[int, int]] = []
    for candidate in ordered:
        if len(picked) == limit:
            break
        if all(abs(candidate[0] - p[0]) >= spacing for p in picked):
            picked.append(candidate)
    return picked


def _seconds(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds())


def _starts(
    day: date,
    hours: tuple[time, time],
    preference: TimePreference,
    duration_s: int,
    tz: ZoneInfo,
) -> Iterator[int]:
    """Start times (seconds since `_EPOCH`) on the slot grid of one block of hours, inside
    the preferred window."""
    hours_start, hours_end = hours
    window = _window(preference, hours_start, hours_end)
    if window is None:
        return
    wall = _round_up(window[0], hours_start, SLOT_STEP_MINUTES)
    if wall == time.max:
        return
    first = _minutes(wall)
    last_start = min(_minutes(window[1]) - 1, _minutes(hours_end) - -(-duration_s // 60))
    if last_start < first:
        return
    base = local_to_utc(day, wall, tz)
    end_utc = local_to_utc(day, time(last_start // 60, last_start % 60), tz)
    if (
        base is not None
        and end_utc is not None
        and end_utc - base == timedelta(minutes=last_start - first)
    ):
        # No daylight-saving change inside the window: plain arithmetic, no zone lookups.
        base_s = _seconds(base)
        yield from range(base_s, base_s + (last_start - first) * 60 + 1, SLOT_STEP_MINUTES * 60)
        return
    for minute in range(first, last_start + 1, SLOT_STEP_MINUTES):
        start = local_to_utc(day, time(minute // 60, minute % 60), tz)
        if start is not None:  # a wall time in the spring-forward gap does not exist
            yield _seconds(start)


# The hot query of the slot search, written once per dialect: the database turns each held
# block into its block number (5-minute steps since `_EPOCH`) and packs them into one row per
# provider. A busy week is tens of thousands of blocks; fetching and converting them row by
# row in Python is what made the search slow (bench/next_slots.py). SQLite keeps timestamps as
# text, and julianday() is its cheapest way to read them (2451544.5 is 2000-01-01T00:00Z).
_BUSY_SQL = {
    "sqlite": """
        SELECT provider_id,
               group_concat(CAST(round((julianday(block_start) - 2451544.5) * 288) AS INTEGER))
        FROM appointment_blocks
        WHERE provider_id IN :provider_ids AND block_start >= :start AND block_start < :end
              AND appointment_id != :ignore
        GROUP BY provider_id""",
    "postgresql": """
        SELECT provider_id,
               string_agg(CAST((CAST(EXTRACT(EPOCH FROM block_start) AS BIGINT) - 946684800)
                               / 300 AS TEXT), ',')
        FROM appointment_blocks
        WHERE provider_id IN :provider_ids AND block_start >= :start AND block_start < :end
              AND appointment_id != :ignore
        GROUP BY provider_id""",
}
_BUSY_STATEMENTS = {
    dialect: text(sql).bindparams(
        bindparam("provider_ids", expanding=True),
        bindparam("start", type_=UTCDateTime()),
        bindparam("end", type_=UTCDateTime()),
    )
    for dialect, sql in _BUSY_SQL.items()
}


def _busy_maps(
    session: Session,
    *,
    provider_ids: list[int],
    start: datetime,
    end: datetime,
    base: int,
    size: int,
    ignore_appointment_id: int | None = None,
) -> dict[int, bytearray]:
    """Per provider, one byte per block from block number `base`: 1 where the block is held."""
    maps: dict[int, bytearray] = {}
    statement = _BUSY_STATEMENTS.get(session.get_bind().dialect.name)
    if statement is None:  # another database: portable, slower
        query = select(AppointmentBlock.provider_id, AppointmentBlock.block_start).where(
            AppointmentBlock.provider_id.in_(provider_ids),
            AppointmentBlock.block_start >= start - _STEP,
            AppointmentBlock.block_start < end,
            AppointmentBlock.appointment_id != (ignore_appointment_id or 0),
        )
        for pid, block_start in session.execute(query):
            index = _block_index(block_start) - base
            if 0 <= index < size:
                maps.setdefault(pid, bytearray(size))[index] = 1
        return maps
    rows = session.connection().execute(
        statement,
        {
            "provider_ids": provider_ids,
            "start": start - _STEP,
            "end": end,
            "ignore": ignore_appointment_id or 0,
        },
    )
    for pid, packed in rows:
        taken = maps[pid] = bytearray(size)
        for block in map(int, packed.split(",")):
            index = block - base
            if 0 <= index < size:
                taken[index] = 1
    return maps


_EXCEPTIONS_SQL = {
    "sqlite": """
        SELECT provider_id,
               CAST(round((julianday(start_at) - 2451544.5) * 86400) AS INTEGER),
               CAST(round((julianday(end_at) - 2451544.5) * 86400) AS INTEGER)
        FROM schedule_exceptions
        WHERE practice_id = :practice_id AND start_at < :end AND end_at > :start""",
    "postgresql": """
        SELECT provider_id,
               CAST(EXTRACT(EPOCH FROM start_at) AS BIGINT) - 946684800,
               CAST(EXTRACT(EPOCH FROM end_at) AS BIGINT) - 946684800
        FROM schedule_exceptions
        WHERE practice_id = :practice_id AND start_at < :end AND end_at > :start""",
}
_EXCEPTIONS_STATEMENTS = {
    dialect: text(sql).bindparams(
        bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    )
    for dialect, sql in _EXCEPTIONS_SQL.items()
}


def _exceptions(
    session: Session,
    *,
    practice_id: int,
    provider_ids: Iterable[int],
    start: datetime,
    end: datetime,
) -> dict[int | None, list[tuple[int, int]]]:
    """Exception ranges (seconds since `_EPOCH`) per provider (key None: the whole practice)
    overlapping [start, end). Read as plain numbers, like the blocks (see `_busy_maps`)."""
    wanted = set(provider_ids)
    statement = _EXCEPTIONS_STATEMENTS.get(session.get_bind().dialect.name)
    rows: Iterable[tuple[int | None, int, int]]
    if statement is None:  # another database: portable, slower
        rows = [
            (pid, _seconds(o_start), _seconds(o_end))
            for pid, o_start, o_end in session.execute(
                select(
                    ScheduleException.provider_id,
                    ScheduleException.start_at,
                    ScheduleException.end_at,
                ).where(
                    ScheduleException.practice_id == practice_id,
                    ScheduleException.start_at < end,
                    ScheduleException.end_at > start,
                )
            )
        ]
    else:
        rows = session.connection().execute(
            statement, {"practice_id": practice_id, "start": start, "end": end}
        )
    out: dict[int | None, list[tuple[int, int]]] = {}
    for pid, o_start, o_end in rows:
        if pid is None or pid in wanted:
            out.setdefault(pid, []).append((o_start, o_end))
    return out


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
    ignore_appointment_id: int | None = None,
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
            ignore_appointment_id=ignore_appointment_id,
        )
    )


def next_open_slots(
    *,
    session: Session,
    practice: Practice,
    visit_type: VisitType,
    after: datetime,
    now: datetime,
    provider_id: int | None = None,
    limit: int = ALTERNATIVES,
    exclude: frozenset[str] = frozenset(),
) -> list[OpenSlot]:
    """The first open slots from the local day of `after` on (for "here are the next ones")."""
    tz = ZoneInfo(practice.timezone)
    first = max(after, now).astimezone(tz).date()
    preference = TimePreference(
        days=tuple(first + timedelta(days=i) for i in range(ALTERNATIVE_DAYS))
    )
    slots = find_open_slots(
        session=session,
        practice=practice,
        visit_type=visit_type,
        preference=preference,
        now=now,
        provider_id=provider_id,
        limit=limit,
        exclude=exclude,
    )
    if slots or provider_id is None:
        return slots
    # Nothing with that provider soon: anyone is better than nothing.
    return next_open_slots(
        session=session,
        practice=practice,
        visit_type=visit_type,
        after=after,
        now=now,
        limit=limit,
        exclude=exclude,
    )


def patient_is_established(
    *, session: Session, practice_id: int, patient_id: int, now: datetime
) -> bool:
    """Whether the practice has seen this patient before (a past visit that was not cancelled)."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Appointment.practice_id == practice_id,
                    Appointment.patient_id == patient_id,
                    Appointment.start_at < now,
                    Appointment.status.in_((*ACTIVE_STATUSES, AppointmentStatus.FULFILLED)),
                )
            )
        )
    )


def visit_type_allowed(
    *, session: Session, visit_type: VisitType, patient_id: int, now: datetime
) -> bool:
    """Whether the visit type's new/established rule lets this patient book it."""
    if visit_type.patient_rule == PatientRule.ANY:
        return True
    established = patient_is_established(
        session=session, practice_id=visit_type.practice_id, patient_id=patient_id, now=now
    )
    return established == (visit_type.patient_rule == PatientRule.ESTABLISHED)


def eligible_visit_types(
    *, session: Session, practice_id: int, patient_id: int, now: datetime
) -> list[VisitType]:
    """The active visit types this patient may book."""
    return [
        v
        for v in active_visit_types(session=session, practice_id=practice_id)
        if visit_type_allowed(session=session, visit_type=v, patient_id=patient_id, now=now)
    ]


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


def _block_rows(
    appointment: Appointment, start: datetime, end: datetime, rules: BookingRules
) -> dict[datetime, AppointmentBlock]:
    return {
        block: AppointmentBlock(
            practice_id=appointment.practice_id,
            provider_id=appointment.provider_id,
            block_start=block,
            appointment_id=appointment.id,
        )
        for block in _blocks(start - rules.buffer_before, end + rules.buffer_after)
    }


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
            session.add_all(_block_rows(appointment, start, end, rules).values())
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
) -> Appointment:
    """Move an appointment to another slot, atomically.

    The new time is claimed before the old time is released, in one savepoint: if the claim
    fails (taken a moment ago), nothing about the old appointment changes. The appointment
    keeps its id (the EHR updates the same resource); a confirmed visit goes back to booked.
    The freed time is offered to the waitlist.

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
            wanted = _block_rows(appointment, start, end, rules)
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
    _offer_freed(
        session, provider_id=old_provider, start=old_start, end=old_end, now=now, notifier=notifier
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

    Raises:
        AppointmentNotFoundError: No such appointment for this patient.
        AppointmentNotChangeableError: Already cancelled, past, or EHR-owned.
    """
    appointment = _own_appointment(session, appointment_id=appointment_id, patient_id=patient_id)
    _check_changeable(appointment, now=now)
    practice = session.get_one(Practice, appointment.practice_id)
    late = is_late_cancel(practice=practice, appointment=appointment, now=now)
    _free(session, appointment)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by = by[:16]
    appointment.cancel_reason = reason[:500] if reason else None
    appointment.late_cancel = late
    session.flush()
    offers = _offer_freed(
        session,
        provider_id=appointment.provider_id,
        start=appointment.start_at,
        end=appointment.end_at,
        now=now,
        notifier=notifier,
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


def _when(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    hour = local.hour % 12 or 12
    return f"{local:%a, %b} {local.day} at {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def cancellation_notice(*, session: Session, appointment: Appointment, now: datetime) -> str:
    """The practice's cancellation policy as it applies to this appointment right now.

    Told to the patient before they confirm a cancel or reschedule, for example
    "Your visit is less than 24 hours away, so cancelling now counts as a late cancellation
    (a $25 fee may apply)."
    """
    practice = session.get_one(Practice, appointment.practice_id)
    tz = ZoneInfo(practice.timezone)
    hours = max(0, practice.late_cancel_hours)
    fee = practice.late_cancel_fee_text
    if hours == 0:
        return practice.cancellation_policy or "There is no charge for cancelling or rescheduling."
    consequence = f" ({fee})" if fee else ""
    if is_late_cancel(practice=practice, appointment=appointment, now=now):
        return (
            f"Your visit is less than {hours} hours away, so cancelling or rescheduling now "
            f"counts as a late cancellation{consequence}."
        )
    deadline = appointment.start_at - timedelta(hours=hours)
    return (
        f"Cancelling or rescheduling is free until {_when(deadline, tz)}; after that it counts "
        f"as a late cancellation{consequence}."
    )


def _free(session: Session, appointment: Appointment) -> None:
    session.execute(
        delete(AppointmentBlock).where(AppointmentBlock.appointment_id == appointment.id)
    )


def _offer_freed(
    session: Session,
    *,
    provider_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    notifier: WaitlistNotifier | None,
) -> list[WaitlistOffer]:
    if end <= now:
        return []
    # Imported here: the waitlist books through this module.
    from frontdesk.scheduling.waitlist import ConversationNotifier, offer_freed_time

    return offer_freed_time(
        session=session,
        provider_id=provider_id,
        start=max(start, now),
        end=end,
        now=now,
        notifier=notifier or ConversationNotifier(),
    )


# EHR statuses (FHIR R4 Appointment.status) that hold provider time, and what we store.
_EHR_HOLDING = {
    "proposed": AppointmentStatus.BOOKED,
    "pending": AppointmentStatus.BOOKED,
    "booked": AppointmentStatus.BOOKED,
    "arrived": AppointmentStatus.BOOKED,
    "checked-in": AppointmentStatus.BOOKED,
    "confirmed": AppointmentStatus.CONFIRMED,
    "fulfilled": AppointmentStatus.FULFILLED,
    "noshow": AppointmentStatus.NOSHOW,
}
_EHR_FREEING = frozenset({"cancelled", "entered-in-error"})


def record_external_appointment(
    *,
    session: Session,
    practice_id: int,
    provider_id: int,
    start: datetime,
    end: datetime,
    external_id: str,
    status: str,
    now: datetime,
    notifier: WaitlistNotifier | None = None,
) -> Appointment | None:
    """Record (or update) busy time that came from the practice's EHR.

    Idempotent by `external_id`: pulling the same EHR appointment again updates the row. A
    status of "cancelled" (or "entered-in-error") frees the time and offers it to the
    waitlist. Only for appointments that originated in the EHR: ours are already here.

    If the EHR took time we had already given someone, the EHR wins where the time is free
    and the overlap is logged (ids only) for staff; nothing is double-held.

    Args:
        session: Database session.
        practice_id: The practice.
        provider_id: Our provider id the EHR appointment belongs to.
        start: Aware start.
        end: Aware end.
        external_id: The EHR's appointment id.
        status: FHIR Appointment.status code.
        now: The current instant, for waitlist offers.
        notifier: How waitlist offers reach patients; default `ConversationNotifier`.

    Returns:
        The stored appointment, or None for a cancellation of one never recorded.

    Raises:
        ValueError: An unknown status, an empty id, naive or reversed times, or a provider of
            another practice.
    """
    status = status.strip().lower()
    if status not in _EHR_HOLDING and status not in _EHR_FREEING:
        raise ValueError(f"unknown EHR appointment status {status!r}")
    if not external_id or len(external_id) > 64:
        raise ValueError("external_id must be 1-64 characters")
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ValueError("start and end must be aware and in order")
    provider = session.get(Provider, provider_id)
    if provider is None or provider.practice_id != practice_id:
        raise ValueError("provider belongs to another practice")
    existing = session.scalar(
        select(Appointment).where(
            Appointment.practice_id == practice_id, Appointment.external_id == external_id
        )
    )
    if status in _EHR_FREEING:
        if existing is None:
            return None
        if existing.status in ACTIVE_STATUSES:
            _free(session, existing)
            existing.status = AppointmentStatus.CANCELLED
            existing.cancelled_at = now
            existing.cancelled_by = "ehr"
            session.flush()
            _offer_freed(
                session,
                provider_id=existing.provider_id,
                start=existing.start_at,
                end=existing.end_at,
                now=now,
                notifier=notifier,
            )
        return existing
    if existing is None:
        existing = Appointment(
            practice_id=practice_id,
            provider_id=provider_id,
            location_id=provider.location_id,
            patient_id=None,
            visit_type_id=None,
            start_at=start,
            end_at=end,
            source=SOURCE_EHR,
            external_id=external_id,
        )
        session.add(existing)
    elif (existing.provider_id, existing.start_at, existing.end_at) != (provider_id, start, end):
        _free(session, existing)
    else:
        existing.status = _EHR_HOLDING[status]
        session.flush()
        return existing
    existing.provider_id = provider_id
    existing.location_id = provider.location_id
    existing.start_at = start
    existing.end_at = end
    existing.status = _EHR_HOLDING[status]
    session.flush()
    _hold_free_blocks(session, existing)
    return existing


def _hold_free_blocks(session: Session, appointment: Appointment) -> None:
    """Claim every still-free block of the appointment's time (EHR time wins where free)."""
    for _attempt in range(3):
        wanted = _blocks(appointment.start_at, appointment.end_at)
        held = set(
            session.scalars(
                select(AppointmentBlock.block_start).where(
                    AppointmentBlock.provider_id == appointment.provider_id,
                    AppointmentBlock.block_start.in_(wanted),
                )
            )
        )
        missing = [b for b in wanted if b not in held]
        try:
            with session.begin_nested():
                session.add_all(
                    AppointmentBlock(
                        practice_id=appointment.practice_id,
                        provider_id=appointment.provider_id,
                        block_start=b,
                        appointment_id=appointment.id,
                    )
                    for b in missing
                )
                session.flush()
        except IntegrityError:
            continue  # a booking landed between the read and the insert; look again
        if len(missing) < len(wanted):
            logger.warning(
                "EHR appointment %s overlaps time already booked here (provider %s)",
                appointment.id,
                appointment.provider_id,
            )
        return
    logger.warning("could not hold EHR appointment %s's time after retries", appointment.id)


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
