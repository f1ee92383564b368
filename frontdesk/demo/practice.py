"""The demo practice itself: made-up providers, hours, visit types and patients."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.patients.models import Patient
from frontdesk.patients.service import match_key
from frontdesk.practices.models import Location, Practice, Provider
from frontdesk.scheduling.localtime import local_day_span
from frontdesk.scheduling.models import (
    PatientRule,
    ScheduleException,
    VisitType,
    VisitTypeProvider,
    WeeklyHours,
)

DEMO_SLUG = "riverside"

# Weekday -> list of (start, end) in the practice's local time. Monday = 0.
_PATEL_HOURS = {d: [(time(8, 30), time(12, 0)), (time(13, 0), time(17, 0))] for d in range(5)}
_NGUYEN_HOURS = {
    0: [(time(9, 0), time(12, 0)), (time(13, 0), time(18, 0))],
    1: [(time(9, 0), time(12, 0)), (time(13, 0), time(19, 0))],
    2: [(time(10, 0), time(16, 0))],
    3: [(time(9, 0), time(12, 0)), (time(13, 0), time(18, 0))],
    5: [(time(9, 0), time(12, 0))],
}

# Whole days the practice is closed, and a provider's day off (local dates).
DEMO_HOLIDAYS = [(date(2026, 12, 25), "Christmas Day"), (date(2027, 1, 1), "New Year's Day")]
DEMO_TIME_OFF = [("Dr. Lucas Nguyen", date(2026, 12, 9), "Time off")]

# Clearly fictional people (555-01xx numbers are reserved for fiction).
DEMO_PATIENTS = [
    ("Jordan", "Sample", date(1985, 4, 12), "+15555550101"),
    ("Casey", "Example", date(1990, 9, 30), "+15555550102"),
    ("Riley", "Placeholder", date(1978, 1, 5), "+15555550103"),
]


def seed_demo_practice(session: Session) -> Practice:
    """Create the demo practice if it does not exist yet; returns it either way."""
    existing = session.scalar(select(Practice).where(Practice.slug == DEMO_SLUG))
    if existing is not None:
        return existing
    practice = Practice(
        slug=DEMO_SLUG,
        name="Riverside Family Medicine",
        timezone="America/New_York",
        phone="+15555550100",
        min_lead_minutes=120,
        max_horizon_days=90,
        cancellation_policy=(
            "Please cancel or reschedule at least 24 hours ahead; late cancellations "
            "may carry a $25 fee."
        ),
        late_cancel_hours=24,
        late_cancel_fee_text="a $25 late-cancellation fee may apply",
        default_buffer_before_minutes=0,
        default_buffer_after_minutes=0,
    )
    session.add(practice)
    session.flush()
    location = Location(
        practice_id=practice.id,
        name="Riverside Main Clinic",
        address="100 Example Avenue, Suite 2, Springfield",
        phone="+15555550100",
    )
    session.add(location)
    session.flush()
    providers: dict[str, Provider] = {}
    for display_name, specialty, hours in (
        ("Dr. Amara Patel", "Family medicine", _PATEL_HOURS),
        ("Dr. Lucas Nguyen", "Internal medicine", _NGUYEN_HOURS),
    ):
        provider = providers[display_name] = Provider(
            practice_id=practice.id,
            location_id=location.id,
            display_name=display_name,
            specialty=specialty,
        )
        session.add(provider)
        session.flush()
        session.add_all(
            WeeklyHours(
                practice_id=practice.id,
                provider_id=provider.id,
                weekday=weekday,
                start_time=start,
                end_time=end,
            )
            for weekday, blocks in hours.items()
            for start, end in blocks
        )
    new_patient = VisitType(
        practice_id=practice.id,
        code="new-patient",
        name="New patient visit",
        duration_minutes=60,
        keywords="new patient,first visit,new here,establish care,first time",
        # Only for people the practice has not seen, and only with Dr. Patel; 15 minutes
        # afterwards to set up the new chart.
        patient_rule=PatientRule.NEW,
        buffer_after_minutes=15,
        min_lead_minutes=24 * 60,
    )
    session.add_all(
        [
            VisitType(
                practice_id=practice.id,
                code="annual-physical",
                name="Annual physical",
                duration_minutes=45,
                keywords="physical,checkup,check up,check-up,annual,wellness,yearly",
                buffer_after_minutes=10,  # room turnover after a full exam
            ),
            VisitType(
                practice_id=practice.id,
                code="sick-visit",
                name="Sick visit",
                duration_minutes=20,
                keywords="sick,ill,cold,flu,fever,cough,sore throat,not feeling well,rash",
            ),
            new_patient,
        ]
    )
    session.flush()
    session.add(
        VisitTypeProvider(
            practice_id=practice.id,
            visit_type_id=new_patient.id,
            provider_id=providers["Dr. Amara Patel"].id,
        )
    )
    tz = ZoneInfo(practice.timezone)
    for day, reason in DEMO_HOLIDAYS:
        start, end = local_day_span(day, tz)
        session.add(
            ScheduleException(practice_id=practice.id, start_at=start, end_at=end, reason=reason)
        )
    for name, day, reason in DEMO_TIME_OFF:
        start, end = local_day_span(day, tz)
        session.add(
            ScheduleException(
                practice_id=practice.id,
                provider_id=providers[name].id,
                start_at=start,
                end_at=end,
                reason=reason,
            )
        )
    session.add_all(
        Patient(
            practice_id=practice.id,
            first_name=first,
            last_name=last,
            match_key=match_key(f"{first} {last}"),
            date_of_birth=dob,
            phone=phone,
        )
        for first, last, dob, phone in DEMO_PATIENTS
    )
    session.flush()
    return practice
