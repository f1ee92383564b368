"""Open slots: when each provider can see a patient for a visit type, best offers first.

A slot respects the provider's weekly hours, exceptions (time off, holidays), the visit's
length and buffers, time already held, the visit type's allowed providers, and its lead time
and booking horizon. Hours are local wall-clock times; each day is converted on its own, so
daylight-saving changes stay right.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from frontdesk.practices.models import Location, Practice, Provider
from frontdesk.scheduling.blocks import EPOCH, STEP_SECONDS, block_index, seconds_since_epoch
from frontdesk.scheduling.localtime import local_day_span, local_to_utc
from frontdesk.scheduling.models import VisitType, VisitTypeProvider, WeeklyHours
from frontdesk.scheduling.queries import busy_maps, exception_ranges
from frontdesk.scheduling.rules import booking_rules
from frontdesk.scheduling.timeprefs import TimePreference

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

    # The scan works in whole seconds since `EPOCH` and in block numbers: a busy 180-day
    # schedule means hundreds of thousands of candidate checks, and datetime arithmetic
    # would dominate (see bench/next_slots.py).
    earliest_s = seconds_since_epoch(earliest_start)
    horizon_s = seconds_since_epoch(horizon)
    duration_s = int(duration.total_seconds())
    before_s = int(rules.buffer_before.total_seconds())
    after_s = int(rules.buffer_after.total_seconds())
    excluded: set[tuple[int, int]] = set()
    for key in exclude:
        with contextlib.suppress(ValueError):
            excluded_pid, excluded_start = parse_slot_key(key)
            excluded.add((seconds_since_epoch(excluded_start), excluded_pid))
    avoid = sorted({start for start, _ in excluded})  # new offers keep away from these
    candidates: list[tuple[int, int]] = []
    closed = exception_ranges(
        session,
        practice_id=practice.id,
        provider_ids=providers,
        start=local_day_span(days[0], tz)[0],
        end=local_day_span(days[-1], tz)[1],
    )
    for chunk in _chunks(days):
        span_start = local_day_span(chunk[0], tz)[0] - rules.buffer_before
        span_end = local_day_span(chunk[-1], tz)[1] + duration + rules.buffer_after
        base = block_index(span_start) - 1
        size = block_index(span_end) - base + 2
        busy = busy_maps(
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
                        lo = (start_s - before_s) // STEP_SECONDS - base
                        hi = -(-(end_s + after_s) // STEP_SECONDS) - base
                        if 1 in taken[lo:hi]:
                            continue
                        if off and any(o_s < end_s and start_s < o_e for o_s, o_e in off):
                            continue
                        if (start_s, pid) not in excluded:
                            candidates.append((start_s, pid))
            # Without an exact time, offers are picked earliest first; once the days seen so
            # far give `limit` well-spaced offers, later days cannot change the answer.
            if preference.exact is None and len(_spaced(sorted(candidates), limit, avoid)) == limit:
                return _offers(candidates, providers, duration, preference, tz, limit, avoid)
    return _offers(candidates, providers, duration, preference, tz, limit, avoid)


def _offers(
    candidates: list[tuple[int, int]],
    providers: dict[int, tuple[str, int, str]],
    duration: timedelta,
    preference: TimePreference,
    tz: ZoneInfo,
    limit: int,
    avoid: list[int],
) -> list[OpenSlot]:
    """The offers among (start seconds, provider id) candidates, as `OpenSlot`s.

    Offers are spread `OFFER_SPACING` apart, and from the times the patient turned down
    (`avoid`), when there are enough; the rest is filled in order, never with a slot that
    overlaps an offer of the same provider (9:00 and 9:15 for a 45-minute visit is not a
    choice: booking one takes the other) nor within half the spacing of a turned-down time
    (after "none of these" for 3:00, 3:15 is no new choice; fewer offers, or none and a
    question for another time, serve the patient better).
    """

    def slot(start_s: int, pid: int) -> OpenSlot:
        name, location_id, location_name = providers[pid]
        start = EPOCH + timedelta(seconds=start_s)
        return OpenSlot(pid, name, location_id, location_name, start, start + duration)

    if preference.exact is not None:  # one or a few days: ordering needs local times
        ordered = sorted(candidates, key=_closest_to(preference.exact, tz))
    else:
        ordered = sorted(candidates)
    picked = _spaced(ordered, limit, avoid)
    length = int(duration.total_seconds())
    near = int(OFFER_SPACING.total_seconds()) // 2
    for candidate in ordered:  # not enough spread-out slots: fill with the rest, in order
        if len(picked) == limit:
            break
        if candidate in picked or _overlaps(candidate, picked, length):
            continue
        if all(abs(candidate[0] - start) >= near for start in avoid):
            picked.append(candidate)
    return [slot(*c) for c in sorted(picked)]


def _closest_to(
    exact: time, tz: ZoneInfo
) -> Callable[[tuple[int, int]], tuple[date, int, int, int]]:
    """Sort key: day first, then distance from the named time of day, then start, provider."""
    target = exact.hour * 60 + exact.minute

    def key(candidate: tuple[int, int]) -> tuple[date, int, int, int]:
        local = (EPOCH + timedelta(seconds=candidate[0])).astimezone(tz)
        return (local.date(), abs(local.hour * 60 + local.minute - target), *candidate)

    return key


def _spaced(ordered: list[tuple[int, int]], limit: int, avoid: list[int]) -> list[tuple[int, int]]:
    """Up to `limit` (start seconds, provider) pairs, in order, each `OFFER_SPACING` apart
    and as far from every start in `avoid`."""
    spacing = int(OFFER_SPACING.total_seconds())
    picked: list[tuple[int, int]] = []
    for candidate in ordered:
        if len(picked) == limit:
            break
        taken = [p[0] for p in picked] + avoid
        if all(abs(candidate[0] - start) >= spacing for start in taken):
            picked.append(candidate)
    return picked


def _overlaps(candidate: tuple[int, int], picked: list[tuple[int, int]], length: int) -> bool:
    """Whether `candidate` overlaps a picked slot of the same provider."""
    start, provider = candidate
    return any(p == provider and abs(start - s) < length for s, p in picked)


def _starts(
    day: date,
    hours: tuple[time, time],
    preference: TimePreference,
    duration_s: int,
    tz: ZoneInfo,
) -> Iterator[int]:
    """Start times (seconds since `EPOCH`) on the slot grid of one block of hours, inside
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
        base_s = seconds_since_epoch(base)
        yield from range(base_s, base_s + (last_start - first) * 60 + 1, SLOT_STEP_MINUTES * 60)
        return
    for minute in range(first, last_start + 1, SLOT_STEP_MINUTES):
        start = local_to_utc(day, time(minute // 60, minute % 60), tz)
        if start is not None:  # a wall time in the spring-forward gap does not exist
            yield seconds_since_epoch(start)


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
