"""The figures behind the insights page, from rows the domain services write (both backends)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.clock import fixed_clock
from frontdesk.conversations.models import Channel
from frontdesk.insights.charts import Series, bar_chart
from frontdesk.insights.figures import Figures, compute_figures
from frontdesk.insights.models import InsightKind
from frontdesk.insights.recording import record_insight
from frontdesk.insights.value import AssumptionError, assumptions_for, estimate, parse_assumptions
from frontdesk.insights.windows import MAX_BUCKETS, Period, Window
from frontdesk.models import Practice, Provider, VisitType
from frontdesk.reminders.models import ReminderKind, ReminderStatus, ScheduledReminder
from frontdesk.scheduling.booking import book_appointment, cancel_appointment
from frontdesk.scheduling.matching import match_provider
from frontdesk.scheduling.waitlist import accept_waitlist_offer, join_waitlist
from frontdesk.sms.models import SmsConsent
from tests import factories
from tests.conftest import NOW, savepoint_sessions

NY = ZoneInfo("America/New_York")
TUE_3PM = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # Tuesday 1 Dec, 15:00 in New York


def _figures(session: Session, practice: Practice, channel: Channel | None = None) -> Figures:
    window = Window.recent(period=Period.DAY, now=NOW + timedelta(hours=2), zone=NY)
    return compute_figures(session=session, practice_id=practice.id, window=window, channel=channel)


def _sick_visit(session: Session, practice: Practice) -> VisitType:
    found = session.scalar(
        select(VisitType).where(
            VisitType.practice_id == practice.id, VisitType.code == "sick-visit"
        )
    )
    assert found is not None
    return found


def _patel(session: Session, practice: Practice) -> Provider:
    found = match_provider(session=session, practice_id=practice.id, text="patel")
    assert found is not None
    return found


def test_freed_time_filled_from_the_waitlist_counts_with_its_delay(
    session: Session, practice: Practice
) -> None:
    before = _figures(session, practice)
    waiting = factories.patient(session, practice=practice, phone=None)
    factories.conversation(session, practice=practice, patient=waiting, verified_at=NOW)
    join_waitlist(
        session=session,
        practice_id=practice.id,
        patient_id=waiting.id,
        visit_type_id=_sick_visit(session, practice).id,
        provider_id=None,
        preference_text="tuesday afternoon",
        now=NOW,
    )
    holder = factories.patient(session, practice=practice, phone=None)
    booked = book_appointment(
        session=session,
        practice=practice,
        patient=holder,
        visit_type=_sick_visit(session, practice),
        provider_id=_patel(session, practice).id,
        start=TUE_3PM,
        now=NOW,
    )
    offers = cancel_appointment(
        session=session, appointment_id=booked.id, patient_id=holder.id, now=NOW
    ).offers
    assert len(offers) == 1
    session.flush()
    later = NOW + timedelta(minutes=40)
    # The patient answers forty minutes later: a unit of work whose clock says so.
    with savepoint_sessions(session, fixed_clock(later))() as answering:
        accept_waitlist_offer(
            session=answering, offer_token=offers[0].token, patient_id=waiting.id, now=later
        )
        answering.commit()
    after = _figures(session, practice)
    assert after.total("offers_sent") == before.total("offers_sent") + 1
    assert after.total("slots_filled") == before.total("slots_filled") + 1
    if before.total("slots_filled") == 0:
        assert after.overall_medians["freed_to_filled"] == 40.0


def _reminded(
    session: Session, practice: Practice, *, days_ahead: int = 3
) -> tuple[int, int, datetime]:
    """A booked visit with a reminder sent an hour before NOW: (appointment, patient, start)."""
    clinic_patient = factories.patient(session, practice=practice, phone=None)
    start = NOW + timedelta(days=days_ahead)
    visit = factories.appointment(
        session,
        patient=clinic_patient,
        provider=_patel(session, practice),
        visit_type=_sick_visit(session, practice),
        start=start,
    )
    session.add(
        ScheduledReminder(
            practice_id=practice.id,
            appointment_id=visit.id,
            patient_id=clinic_patient.id,
            kind=ReminderKind.REMINDER,
            offset_minutes=days_ahead * 24 * 60,
            appointment_start=start,
            due_at=NOW - timedelta(hours=1),
            status=ReminderStatus.SENT,
            sent_at=NOW - timedelta(hours=1),
        )
    )
    session.flush()
    return visit.id, clinic_patient.id, start


def test_what_patients_did_after_a_reminder_is_counted_once_each(
    session: Session, practice: Practice
) -> None:
    before = _figures(session, practice)
    web_before = _figures(session, practice, Channel.WEBCHAT)
    cancelled_id, cancelled_patient, _ = _reminded(session, practice, days_ahead=3)
    cancel_appointment(
        session=session, appointment_id=cancelled_id, patient_id=cancelled_patient, now=NOW
    )
    staff_cancelled, _, _ = _reminded(session, practice, days_ahead=4)
    cancel_appointment(
        session=session, appointment_id=staff_cancelled, patient_id=None, now=NOW, by="staff"
    )
    moved_id, _, _ = _reminded(session, practice, days_ahead=5)
    record_insight(
        session=session,
        practice_id=practice.id,
        kind=InsightKind.BOT_RESCHEDULED,
        at=NOW,
        channel="sms",
        appointment_id=moved_id,
    )
    session.add(SmsConsent(practice_id=practice.id, phone="+15555550177", opted_out=True))
    session.add(SmsConsent(practice_id=practice.id, phone="+15555550178", opted_out=False))
    session.flush()
    after = _figures(session, practice)
    assert after.total("reminders_sent") == before.total("reminders_sent") + 3
    assert after.total("reminded_cancelled") == before.total("reminded_cancelled") + 1
    assert after.total("reminded_rescheduled") == before.total("reminded_rescheduled") + 1
    assert after.total("reschedules") == before.total("reschedules") + 1
    assert after.total("opted_out") == before.total("opted_out") + 1
    web = _figures(session, practice, Channel.WEBCHAT)
    assert web.total("reminders_sent") == 0 and web.total("opted_out") == 0
    assert web.total("reschedules") == web_before.total("reschedules"), "an SMS reschedule"


def test_first_response_is_the_median_of_answered_escalations(
    session: Session, practice: Practice
) -> None:
    other = factories.practice(session)
    for minutes in (2, 4, 30):
        factories.conversation(
            session,
            practice=other,
            channel=Channel.SMS,
            escalated_at=NOW - timedelta(hours=1),
            first_reply_at=NOW - timedelta(hours=1) + timedelta(minutes=minutes),
        )
    factories.conversation(session, practice=other, escalated_at=NOW)  # not answered yet
    factories.conversation(session, practice=other)  # contained
    figures = _figures(session, other)
    assert figures.total("conversations") == 5
    assert figures.total("escalated") == 4
    assert figures.containment() == 20.0
    assert figures.overall_medians["first_response"] == 4.0
    assert figures.total("answered_escalations") == 3
    assert _figures(session, other, Channel.WEBCHAT).overall_medians["first_response"] is None
    assert figures.reasons["Escalated"][-1] == 4  # no reason recorded: counted apart


def test_windows_follow_local_days_weeks_and_months() -> None:
    # New York leaves daylight saving time on Sunday 1 November 2026: that day has 25 hours.
    days = Window.covering(
        period=Period.DAY, first=date(2026, 10, 31), last=date(2026, 11, 2), zone=NY
    )
    assert days.labels() == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert days.bounds[2] - days.bounds[1] == timedelta(hours=25)
    assert days.bounds[0] == datetime(2026, 10, 31, 4, 0, tzinfo=UTC)
    assert days.index_of(datetime(2026, 11, 2, 4, 59, tzinfo=UTC)) == 1
    assert days.index_of(datetime(2026, 11, 2, 5, 0, tzinfo=UTC)) == 2
    assert days.index_of(days.end) is None
    weeks = Window.recent(period=Period.WEEK, now=NOW, zone=NY, count=3)
    assert weeks.labels() == ["2026-11-09", "2026-11-16", "2026-11-23"]
    assert weeks.last_day == date(2026, 11, 29)
    months = Window.recent(period=Period.MONTH, now=NOW, zone=NY)
    assert (
        len(months) == 12 and months.labels()[0] == "2025-12" and months.labels()[-1] == "2026-11"
    )
    assert months.last_day == date(2026, 11, 30)
    with pytest.raises(ValueError, match="ends before"):
        Window.covering(period=Period.DAY, first=date(2026, 2, 1), last=date(2026, 1, 1), zone=NY)
    with pytest.raises(ValueError, match=str(MAX_BUCKETS)):
        Window.covering(period=Period.DAY, first=date(2020, 1, 1), last=date(2026, 1, 1), zone=NY)


def test_charts_scale_to_a_readable_axis_and_escape_their_labels() -> None:
    svg = bar_chart(
        title="Done <by> the bot",
        labels=["2026-11-27", "2026-11-28"],
        series=[Series("Bookings", [3, 7], "a"), Series("Cancel & move", [1, 0], "b")],
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "Done &lt;by&gt; the bot" in svg and "Cancel &amp; move" in svg
    assert ">10<" in svg  # 7 rounds up to an axis of 10
    assert svg.count("<rect") == 4 + 2  # four bars, two legend keys
    stacked = bar_chart(
        title="Stacked",
        labels=["a"],
        series=[Series("x", [1200], "a"), Series("y", [300], "b")],
        stacked=True,
    )
    assert ">2k<" in stacked  # 1,500 stacked rounds up to 2,000
    empty = bar_chart(title="Nothing", labels=[], series=[Series("x", [], "a")])
    assert "no data" in empty


def test_assumptions_are_checked_and_the_estimate_is_plain_arithmetic(
    session: Session, practice: Practice
) -> None:
    with pytest.raises(AssumptionError, match="give a number"):
        parse_assumptions({"minutes_per_booking": "six"})
    figures = _figures(session, factories.practice(session))
    figures.series["bookings"][-1] = 10
    figures.series["slots_filled"][-1] = 2
    figures.series["reschedules"][-1] = 4
    defaults = assumptions_for(session=session, practice_id=practice.id)
    assert (defaults.minutes_per_booking, defaults.visit_value_cents) == (6, 15000)
    result = estimate(figures, defaults)
    assert result.minutes_saved == 10 * 6 + 4 * 5
    # 2 refills × $150 × 100% + 4 reschedules × $150 × 50%.
    assert result.revenue_protected == 2 * 150 + 4 * 150 * 0.5
