"""A practice file against the database: read the current state, apply a file, show the diff.

`export_practice` reads every row a practice file describes back into a `PracticeFile`;
`apply_practice` makes the database match a file inside the caller's transaction and returns
the changes as lines a person can review. Both sides meet in the canonical form, so applying
a file a second time changes nothing and says so.

Where each part of the file is stored:
    practices              slug, name, timezone, phone, booking, cancellation,
                           office_hours (JSON), knowledge_folder
    locations, providers   locations; providers with their one location
    weekly_hours           providers[].hours
    visit_types (+ visit_type_providers)   visit_types, their rules and allowed providers
    schedule_exceptions    exceptions (UTC ranges; whole local days when given as days)
    reminder_settings      reminders (no row: the service defaults)
    practice_sms_numbers   sms_numbers
    widget_origins         widget_origins
    billing_profiles       billing (no row: the service default link)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from frontdesk.auth.models import WidgetOrigin
from frontdesk.billing.models import BillingProfile
from frontdesk.experiments.config import apply_experiments, export_experiments
from frontdesk.practices.config.canonical import canonical, practice_data
from frontdesk.practices.config.schema import (
    TRANSLATIONS,
    WEEKDAYS,
    Billing,
    Booking,
    Cancellation,
    ExceptionSpec,
    LocationSpec,
    PracticeFile,
    ProviderSpec,
    Reminders,
    SmsNumber,
    Translation,
    TranslationsSpec,
    VisitTypeSpec,
    Week,
    duration_minutes,
    format_duration,
    format_span,
    parse_span,
)
from frontdesk.practices.models import Location, Practice, Provider
from frontdesk.reminders.models import ReminderSettings
from frontdesk.scheduling.localtime import local_day_span, spoken_when
from frontdesk.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    ScheduleException,
    VisitType,
    VisitTypeProvider,
    WeeklyHours,
)
from frontdesk.sms.models import PracticeSmsNumber


class UnknownPracticeError(LookupError):
    """No practice has this slug."""


class ApplyRefusedError(ValueError):
    """Applying the file would lose something; nothing was changed. `reasons` says what."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(reasons))


@dataclass
class ApplyResult:
    """What `apply_practice` did (or, in a dry run, would do)."""

    practice: Practice
    created: bool
    changes: list[str] = field(default_factory=list)


# --- export ---------------------------------------------------------------------------------


def _week_from_rows(rows: Iterable[tuple[int, time, time]]) -> Week:
    days: dict[str, list[str]] = {day: [] for day in WEEKDAYS}
    for weekday, start, end in sorted(rows):
        days[WEEKDAYS[weekday]].append(format_span(start, end))
    return Week(**days)


def _week_to_json(week: Week | None) -> dict[str, list[str]] | None:
    if week is None:
        return None
    return {day: spans for day, spans in week.model_dump().items() if spans}


def _exception_spec(row: ScheduleException, provider: str | None, tz: ZoneInfo) -> ExceptionSpec:
    start, end = row.start_at.astimezone(tz), row.end_at.astimezone(tz)
    first, last = start.date(), (end - timedelta(days=1)).date()
    if start.time() == time.min and end.time() == time.min and first <= last:
        whole = local_day_span(first, tz)[0] == row.start_at and (
            local_day_span(last, tz)[1] == row.end_at
        )
        if whole:
            return ExceptionSpec(
                provider=provider,
                first_day=first,
                last_day=last if last != first else None,
                reason=row.reason,
            )
    return ExceptionSpec(
        provider=provider,
        starts=start.replace(tzinfo=None),
        ends=end.replace(tzinfo=None),
        reason=row.reason,
    )


def find_practice(*, session: Session, slug: str) -> Practice:
    """The practice with this slug, or `UnknownPracticeError`."""
    practice = session.scalar(select(Practice).where(Practice.slug == slug))
    if practice is None:
        raise UnknownPracticeError(f"no practice {slug!r}")
    return practice


def export_practice(*, session: Session, slug: str) -> PracticeFile:
    """The practice as a (canonical) practice file."""
    practice = find_practice(session=session, slug=slug)
    pid = practice.id
    tz = ZoneInfo(practice.timezone)
    locations = session.scalars(select(Location).where(Location.practice_id == pid)).all()
    location_names = {loc.id: loc.name for loc in locations}
    providers = session.scalars(select(Provider).where(Provider.practice_id == pid)).all()
    provider_names = {provider.id: provider.display_name for provider in providers}
    hours: dict[int, list[tuple[int, time, time]]] = {}
    for row in session.scalars(select(WeeklyHours).where(WeeklyHours.practice_id == pid)):
        hours.setdefault(row.provider_id, []).append((row.weekday, row.start_time, row.end_time))
    allowed: dict[int, list[str]] = {}
    for link in session.scalars(
        select(VisitTypeProvider).where(VisitTypeProvider.practice_id == pid)
    ):
        allowed.setdefault(link.visit_type_id, []).append(provider_names[link.provider_id])
    reminders = session.scalar(select(ReminderSettings).where(ReminderSettings.practice_id == pid))
    billing = session.scalar(select(BillingProfile).where(BillingProfile.practice_id == pid))
    spec = PracticeFile(
        slug=practice.slug,
        name=practice.name,
        timezone=practice.timezone,
        phone=practice.phone,
        office_hours=Week(**practice.office_hours) if practice.office_hours else None,
        booking=Booking(
            min_lead_minutes=practice.min_lead_minutes,
            max_horizon_days=practice.max_horizon_days,
            buffer_before_minutes=practice.default_buffer_before_minutes,
            buffer_after_minutes=practice.default_buffer_after_minutes,
        ),
        cancellation=Cancellation(
            policy=practice.cancellation_policy,
            late_cancel_hours=practice.late_cancel_hours,
            fee_text=practice.late_cancel_fee_text,
        ),
        locations=[
            LocationSpec(name=loc.name, address=loc.address, phone=loc.phone) for loc in locations
        ],
        providers=[
            ProviderSpec(
                name=provider.display_name,
                specialty=provider.specialty,
                location=location_names[provider.location_id],
                active=provider.active,
                hours=_week_from_rows(hours.get(provider.id, [])),
            )
            for provider in providers
        ],
        visit_types=[
            VisitTypeSpec(
                code=visit.code,
                name=visit.name,
                minutes=visit.duration_minutes,
                keywords=[word.strip() for word in visit.keywords.split(",") if word.strip()],
                patients=visit.patient_rule,
                providers=allowed.get(visit.id, []),
                min_lead_minutes=visit.min_lead_minutes,
                max_horizon_days=visit.max_horizon_days,
                buffer_before_minutes=visit.buffer_before_minutes,
                buffer_after_minutes=visit.buffer_after_minutes,
                active=visit.active,
                names=visit.names or {},
            )
            for visit in session.scalars(select(VisitType).where(VisitType.practice_id == pid))
        ],
        exceptions=[
            _exception_spec(row, provider_names.get(row.provider_id or 0), tz)
            for row in session.scalars(
                select(ScheduleException).where(ScheduleException.practice_id == pid)
            )
        ],
        reminders=_reminders_spec(reminders) if reminders is not None else None,
        reminder_experiments=export_experiments(session=session, practice_id=pid),
        sms_numbers=[
            SmsNumber(phone=number.phone, messaging_service_sid=number.messaging_service_sid)
            for number in session.scalars(
                select(PracticeSmsNumber).where(PracticeSmsNumber.practice_id == pid)
            )
        ],
        widget_origins=list(
            session.scalars(select(WidgetOrigin.origin).where(WidgetOrigin.practice_id == pid))
        ),
        billing=(
            Billing(
                payment_link_template=billing.payment_link_template,
                phone=billing.billing_phone,
                payment_methods=billing.payment_methods,
            )
            if billing is not None
            else None
        ),
        translations=_translations(practice),
        knowledge_folder=practice.knowledge_folder,
    )
    return canonical(spec)


def _reminders_spec(row: ReminderSettings) -> Reminders:
    window = None
    if row.quiet_start and row.quiet_end:
        window = f"{row.quiet_start}-{row.quiet_end}"
    return Reminders(
        offsets=[format_duration(m) for m in row.offsets_minutes]
        if row.offsets_minutes is not None
        else None,
        sending_hours=window,
        daily_cap=row.daily_cap,
        weekly_cap=row.weekly_cap,
        no_show_followup=row.no_show_followup,
        post_visit_message=row.post_visit_message,
    )


# --- diff -----------------------------------------------------------------------------------


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def _field_changes(label: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    flat_old, flat_new = _flat(old), _flat(new)
    lines = []
    for key in sorted(set(flat_old) | set(flat_new), key=lambda k: (k not in flat_new, k)):
        before, after = flat_old.get(key), flat_new.get(key)
        if before != after:
            lines.append(f"~ {label}: {key} {_show(before)} -> {_show(after)}")
    return lines


def _keyed_changes(
    what: str, old: list[dict[str, Any]], new: list[dict[str, Any]], key: str
) -> list[str]:
    before = {str(item[key]): item for item in old}
    after = {str(item[key]): item for item in new}
    lines = [f"+ {what} {name!r}" for name in after if name not in before]
    for name, item in after.items():
        if name in before:
            lines += _field_changes(f"{what} {name!r}", before[name], item)
    lines += [f"- {what} {name!r}" for name in before if name not in after]
    return lines


def _exception_label(item: dict[str, Any]) -> str:
    when = item.get("first_day") or item.get("starts")
    until = item.get("last_day") or item.get("ends")
    span = f"{when}" + (f" to {until}" if until else "")
    who = item.get("provider", "whole practice")
    return f"exception {span} ({who}) {item.get('reason', '')!r}"


def diff_practices(old: PracticeFile | None, new: PracticeFile) -> list[str]:
    """What changes from `old` to `new`, one line each: `+` added, `-` removed, `~` changed."""
    after = practice_data(new)
    if old is None:
        created = [line for line in _section_changes({}, after) if not line.startswith("~")]
        return [f"+ practice {new.slug!r} ({new.name})", *created]
    return _section_changes(practice_data(old), after)


_KEYED = {
    "locations": ("location", "name"),
    "providers": ("provider", "name"),
    "visit_types": ("visit type", "code"),
    "sms_numbers": ("SMS number", "phone"),
    "reminder_experiments": ("reminder experiment", "key"),
}


def _section_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    scalars_before = {k: v for k, v in before.items() if not isinstance(v, list)}
    scalars_after = {k: v for k, v in after.items() if not isinstance(v, list)}
    lines += _field_changes("practice", scalars_before, scalars_after)
    for section, (what, key) in _KEYED.items():
        lines += _keyed_changes(what, before.get(section, []), after.get(section, []), key)
    old_exceptions = [_exception_label(item) for item in before.get("exceptions", [])]
    new_exceptions = [_exception_label(item) for item in after.get("exceptions", [])]
    lines += [f"+ {label}" for label in new_exceptions if label not in old_exceptions]
    lines += [f"- {label}" for label in old_exceptions if label not in new_exceptions]
    old_origins, new_origins = before.get("widget_origins", []), after.get("widget_origins", [])
    lines += [f"+ widget origin {o!r}" for o in new_origins if o not in old_origins]
    lines += [f"- widget origin {o!r}" for o in old_origins if o not in new_origins]
    return lines


# --- apply ----------------------------------------------------------------------------------


def apply_practice(*, session: Session, spec: PracticeFile, now: datetime) -> ApplyResult:
    """Make the database describe `spec`, inside the caller's transaction.

    Creates the practice or updates it in place, keyed by slug (locations and providers by
    name, visit types by code). Nothing is lost silently: removing a provider, visit type or
    location that appointments refer to is refused with the appointments listed, and so is an
    SMS number another practice already uses. On refusal nothing has been changed.

    Raises:
        ApplyRefusedError: the file would drop something still in use.
    """
    # Rows are created in the file's order (the demo's ids stay what they always were); the
    # diff compares canonical forms, so order alone is never a change.
    practice = session.scalar(select(Practice).where(Practice.slug == spec.slug))
    old = export_practice(session=session, slug=spec.slug) if practice is not None else None
    changes = diff_practices(old, spec)
    if old is not None and not changes:
        assert practice is not None
        return ApplyResult(practice=practice, created=False)
    _refuse_losses(session=session, practice=practice, spec=spec, now=now)
    created = practice is None
    if practice is None:
        practice = Practice(slug=spec.slug, name=spec.name)
        session.add(practice)
    _apply_practice_fields(practice, spec)
    session.flush()
    locations = _apply_locations(session, practice, spec.locations)
    providers = _apply_providers(session, practice, spec.providers, locations)
    _apply_visit_types(session, practice, spec.visit_types, providers)
    _remove_missing(session, practice, spec)
    _apply_exceptions(session, practice, spec.exceptions, providers)
    _apply_reminders(session, practice, spec.reminders)
    apply_experiments(session=session, practice_id=practice.id, specs=spec.reminder_experiments)
    _apply_sms_numbers(session, practice, spec.sms_numbers)
    _apply_origins(session, practice, spec.widget_origins, now)
    _apply_billing(session, practice, spec.billing)
    session.flush()
    return ApplyResult(practice=practice, created=created, changes=changes)


def _future_appointments(
    session: Session, *, column: Any, ids: list[int], now: datetime
) -> list[Appointment]:
    return list(
        session.scalars(
            select(Appointment)
            .where(column.in_(ids), Appointment.status.in_(ACTIVE_STATUSES))
            .where(Appointment.end_at > now)
            .order_by(Appointment.start_at)
        )
    )


def _any_appointments(session: Session, *, column: Any, id_: int) -> int:
    return session.scalar(select(func.count()).select_from(Appointment).where(column == id_)) or 0


def _listing(appointments: list[Appointment], tz: ZoneInfo) -> str:
    return "; ".join(
        f"appointment #{a.id} {spoken_when(a.start_at, tz)}" for a in appointments[:50]
    ) + (f"; and {len(appointments) - 50} more" if len(appointments) > 50 else "")


def _refuse_losses(
    *, session: Session, practice: Practice | None, spec: PracticeFile, now: datetime
) -> None:
    reasons: list[str] = []
    for number in spec.sms_numbers:
        owner = session.scalar(
            select(PracticeSmsNumber.practice_id).where(PracticeSmsNumber.phone == number.phone)
        )
        if owner is not None and (practice is None or owner != practice.id):
            reasons.append(f"SMS number {number.phone} already belongs to another practice")
    if practice is None:
        if reasons:
            raise ApplyRefusedError(reasons)
        return
    tz = ZoneInfo(practice.timezone)
    kept = {provider.name for provider in spec.providers}
    for provider in session.scalars(select(Provider).where(Provider.practice_id == practice.id)):
        if provider.display_name in kept:
            continue
        future = _future_appointments(
            session, column=Appointment.provider_id, ids=[provider.id], now=now
        )
        if future:
            reasons.append(
                f"provider {provider.display_name!r} has {len(future)} upcoming "
                f"appointment(s); move or cancel them first: {_listing(future, tz)}"
            )
        elif _any_appointments(session, column=Appointment.provider_id, id_=provider.id):
            reasons.append(
                f"provider {provider.display_name!r} has past appointments on record; keep "
                "them in the file with `active: false` instead of removing them"
            )
    codes = {visit.code for visit in spec.visit_types}
    for visit in session.scalars(select(VisitType).where(VisitType.practice_id == practice.id)):
        if visit.code in codes:
            continue
        future = _future_appointments(
            session, column=Appointment.visit_type_id, ids=[visit.id], now=now
        )
        if future:
            reasons.append(
                f"visit type {visit.code!r} has {len(future)} upcoming appointment(s): "
                + _listing(future, tz)
            )
        elif _any_appointments(session, column=Appointment.visit_type_id, id_=visit.id):
            reasons.append(
                f"visit type {visit.code!r} has past appointments on record; keep it with "
                "`active: false` instead of removing it"
            )
    names = {loc.name for loc in spec.locations}
    for location in session.scalars(select(Location).where(Location.practice_id == practice.id)):
        if location.name not in names and _any_appointments(
            session, column=Appointment.location_id, id_=location.id
        ):
            reasons.append(
                f"location {location.name!r} has appointments on record; keep it in the file"
            )
    if reasons:
        raise ApplyRefusedError(reasons)


def _translations(practice: Practice) -> TranslationsSpec:
    return TRANSLATIONS.validate_python(
        {
            language: Translation.model_validate(texts)
            for language, texts in (practice.translations or {}).items()
        }
    )


def _apply_practice_fields(practice: Practice, spec: PracticeFile) -> None:
    practice.name = spec.name
    practice.timezone = spec.timezone
    practice.phone = spec.phone
    practice.min_lead_minutes = spec.booking.min_lead_minutes
    practice.max_horizon_days = spec.booking.max_horizon_days
    practice.default_buffer_before_minutes = spec.booking.buffer_before_minutes
    practice.default_buffer_after_minutes = spec.booking.buffer_after_minutes
    practice.cancellation_policy = spec.cancellation.policy
    practice.late_cancel_hours = spec.cancellation.late_cancel_hours
    practice.late_cancel_fee_text = spec.cancellation.fee_text
    practice.office_hours = _week_to_json(spec.office_hours)
    practice.knowledge_folder = spec.knowledge_folder
    practice.translations = {
        language: translation.model_dump(exclude_none=True)
        for language, translation in spec.translations.items()
        if translation.model_dump(exclude_none=True)
    } or None


def _apply_locations(
    session: Session, practice: Practice, specs: list[LocationSpec]
) -> dict[str, Location]:
    existing = {
        loc.name: loc
        for loc in session.scalars(select(Location).where(Location.practice_id == practice.id))
    }
    for spec in specs:
        location = existing.get(spec.name)
        if location is None:
            location = existing[spec.name] = Location(practice_id=practice.id, name=spec.name)
            session.add(location)
        location.address = spec.address
        location.phone = spec.phone
    session.flush()
    return existing


def _apply_providers(
    session: Session,
    practice: Practice,
    specs: list[ProviderSpec],
    locations: dict[str, Location],
) -> dict[str, Provider]:
    existing = {
        provider.display_name: provider
        for provider in session.scalars(select(Provider).where(Provider.practice_id == practice.id))
    }
    current_hours: dict[int, list[tuple[int, time, time]]] = {}
    for row in session.scalars(select(WeeklyHours).where(WeeklyHours.practice_id == practice.id)):
        current_hours.setdefault(row.provider_id, []).append(
            (row.weekday, row.start_time, row.end_time)
        )
    for spec in specs:
        provider = existing.get(spec.name)
        if provider is None:
            provider = existing[spec.name] = Provider(
                practice_id=practice.id, display_name=spec.name
            )
            session.add(provider)
        provider.specialty = spec.specialty
        provider.location_id = locations[spec.location].id
        provider.active = spec.active
        session.flush()
        wanted = sorted(
            (weekday, *parse_span(span)) for weekday, spans in spec.hours.days() for span in spans
        )
        if sorted(current_hours.get(provider.id, [])) != wanted:
            session.execute(delete(WeeklyHours).where(WeeklyHours.provider_id == provider.id))
            session.add_all(
                WeeklyHours(
                    practice_id=practice.id,
                    provider_id=provider.id,
                    weekday=weekday,
                    start_time=parse_span(span)[0],
                    end_time=parse_span(span)[1],
                )
                for weekday, spans in spec.hours.days()
                for span in spans
            )
    session.flush()
    return existing


def _apply_visit_types(
    session: Session,
    practice: Practice,
    specs: list[VisitTypeSpec],
    providers: dict[str, Provider],
) -> None:
    existing = {
        visit.code: visit
        for visit in session.scalars(select(VisitType).where(VisitType.practice_id == practice.id))
    }
    for spec in specs:
        visit = existing.get(spec.code)
        if visit is None:
            visit = existing[spec.code] = VisitType(practice_id=practice.id, code=spec.code)
            session.add(visit)
        visit.name = spec.name
        visit.names = {str(language): name for language, name in spec.names.items()} or None
        visit.duration_minutes = spec.minutes
        visit.keywords = ",".join(spec.keywords)
        visit.patient_rule = spec.patients
        visit.min_lead_minutes = spec.min_lead_minutes
        visit.max_horizon_days = spec.max_horizon_days
        visit.buffer_before_minutes = spec.buffer_before_minutes
        visit.buffer_after_minutes = spec.buffer_after_minutes
        visit.active = spec.active
    session.flush()
    for spec in specs:
        visit = existing[spec.code]
        wanted = {providers[name].id for name in spec.providers}
        have = set(
            session.scalars(
                select(VisitTypeProvider.provider_id).where(
                    VisitTypeProvider.visit_type_id == visit.id
                )
            )
        )
        if have - wanted:
            session.execute(
                delete(VisitTypeProvider).where(
                    VisitTypeProvider.visit_type_id == visit.id,
                    VisitTypeProvider.provider_id.in_(have - wanted),
                )
            )
        session.add_all(
            VisitTypeProvider(practice_id=practice.id, visit_type_id=visit.id, provider_id=pid)
            for name in spec.providers
            if (pid := providers[name].id) not in have
        )
    session.flush()


def _remove_missing(session: Session, practice: Practice, spec: PracticeFile) -> None:
    """Delete what the file no longer lists (`_refuse_losses` has checked it is unused)."""
    names = [provider.name for provider in spec.providers]
    codes = [visit.code for visit in spec.visit_types]
    places = [location.name for location in spec.locations]
    session.execute(
        delete(Provider).where(
            Provider.practice_id == practice.id, Provider.display_name.not_in(names)
        )
    )
    session.execute(
        delete(VisitType).where(VisitType.practice_id == practice.id, VisitType.code.not_in(codes))
    )
    session.execute(
        delete(Location).where(Location.practice_id == practice.id, Location.name.not_in(places))
    )
    session.expire_all()


def _exception_range(spec: ExceptionSpec, tz: ZoneInfo) -> tuple[datetime, datetime]:
    if spec.first_day is not None:
        last: date = spec.last_day or spec.first_day
        return local_day_span(spec.first_day, tz)[0], local_day_span(last, tz)[1]
    assert spec.starts is not None and spec.ends is not None
    return (
        spec.starts.replace(tzinfo=tz).astimezone(UTC),
        spec.ends.replace(tzinfo=tz).astimezone(UTC),
    )


def _apply_exceptions(
    session: Session,
    practice: Practice,
    specs: list[ExceptionSpec],
    providers: dict[str, Provider],
) -> None:
    tz = ZoneInfo(practice.timezone)
    existing: dict[tuple[int | None, datetime, datetime], ScheduleException] = {
        (row.provider_id, row.start_at, row.end_at): row
        for row in session.scalars(
            select(ScheduleException).where(ScheduleException.practice_id == practice.id)
        )
    }
    wanted = set()
    for spec in specs:
        provider_id = providers[spec.provider].id if spec.provider else None
        start, end = _exception_range(spec, tz)
        key = (provider_id, start, end)
        wanted.add(key)
        row = existing.get(key)
        if row is None:
            row = existing[key] = ScheduleException(
                practice_id=practice.id, provider_id=provider_id, start_at=start, end_at=end
            )
            session.add(row)
        row.reason = spec.reason
    for key, row in existing.items():
        if key not in wanted:
            session.delete(row)


def _apply_reminders(session: Session, practice: Practice, spec: Reminders | None) -> None:
    row = session.scalar(
        select(ReminderSettings).where(ReminderSettings.practice_id == practice.id)
    )
    if spec is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = ReminderSettings(practice_id=practice.id)
        session.add(row)
    row.offsets_minutes = (
        [duration_minutes(offset) for offset in spec.offsets] if spec.offsets is not None else None
    )
    start, end = parse_span(spec.sending_hours) if spec.sending_hours else (None, None)
    row.quiet_start = f"{start:%H:%M}" if start else None
    row.quiet_end = f"{end:%H:%M}" if end else None
    row.daily_cap = spec.daily_cap
    row.weekly_cap = spec.weekly_cap
    row.no_show_followup = spec.no_show_followup
    row.post_visit_message = spec.post_visit_message


def _apply_sms_numbers(session: Session, practice: Practice, specs: list[SmsNumber]) -> None:
    existing = {
        number.phone: number
        for number in session.scalars(
            select(PracticeSmsNumber).where(PracticeSmsNumber.practice_id == practice.id)
        )
    }
    for spec in specs:
        number = existing.pop(spec.phone, None)
        if number is None:
            number = PracticeSmsNumber(practice_id=practice.id, phone=spec.phone)
            session.add(number)
        number.messaging_service_sid = spec.messaging_service_sid
    for number in existing.values():
        session.delete(number)


def _apply_origins(session: Session, practice: Practice, origins: list[str], now: datetime) -> None:
    existing = {
        row.origin: row
        for row in session.scalars(
            select(WidgetOrigin).where(WidgetOrigin.practice_id == practice.id)
        )
    }
    session.add_all(
        WidgetOrigin(practice_id=practice.id, origin=origin, created_at=now)
        for origin in origins
        if origin not in existing
    )
    for origin, row in existing.items():
        if origin not in origins:
            session.delete(row)


def _apply_billing(session: Session, practice: Practice, spec: Billing | None) -> None:
    row = session.scalar(select(BillingProfile).where(BillingProfile.practice_id == practice.id))
    if spec is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = BillingProfile(practice_id=practice.id)
        session.add(row)
    row.payment_link_template = spec.payment_link_template
    row.billing_phone = spec.phone
    row.payment_methods = spec.payment_methods
