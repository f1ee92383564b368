"""The insights page through the real app: figures move when the bot, patients and staff act.

Patients talk through the real web chat socket; the Rasa double runs the real custom actions
through the service's action endpoint; staff act through the console's forms. The figures are
read back from the page and its CSV exports, as a manager would read them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from frontdesk.audit.models import AuditEvent
from frontdesk.auth.models import StaffRole
from frontdesk.conversations.models import Conversation, EscalationReason
from frontdesk.insights.models import InsightEvent, InsightKind
from frontdesk.practices.models import Provider
from frontdesk.reminders.messages import appointment_ref
from frontdesk.reminders.models import ReminderKind, ReminderStatus, ScheduledReminder
from frontdesk.scheduling.models import Appointment, AppointmentStatus, VisitType
from frontdesk.scheduling.slots import parse_slot_key
from tests import factories
from tests.auth.support import Console
from tests.insights.support import (
    chat,
    conversation_row,
    csv_rows,
    demo_patient,
    identify,
    kpis,
    number,
    open_slot_key,
    say,
    scripted,
)

# The Rasa double passes on only messages that need no template rendering: this stands for
# the rendered response, so the patient's socket sees the turn end.
RENDERED = {"text": "(the rendered response)"}
TODAY = "2026-11-28"  # the console clock's day (tests/conftest.py NOW), in New York


def _today(rows: list[dict[str, str]], **match: str) -> dict[str, str]:
    [row] = [r for r in rows if r["Period"] == TODAY and all(r[k] == v for k, v in match.items())]
    return row


def _audits(console: Console, action: str) -> list[AuditEvent]:
    with console.db() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def switch_to(console: Console, email: str) -> None:
    """Another staff member signs in on this browser (the previous one's cookie is dropped)."""
    console.client.cookies.clear()
    assert console.sign_in(email).status_code == 303


def _post(console: Console, path: str, **fields: str) -> Any:
    token = console.page_csrf("/console")
    return console.client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def test_a_booking_by_the_bot_raises_bookings_by_bot_by_one(console: Console, manager: int) -> None:
    before, web_before, sms_before = (
        kpis(console),
        kpis(console, "?channel=webchat"),
        kpis(console, "?channel=sms"),
    )
    table_before = _today(csv_rows(console, "bot_actions"))
    key = open_slot_key(console)
    scripted(console).replies = lambda text: [
        {
            "action": "action_book_appointment",
            "intent": "affirm",
            "slots": {"visit_type": "sick-visit", "slot_choice": key, "patient_verified": True},
        },
        RENDERED,
    ]
    with chat(console) as (ws, public_id):
        identify(console, public_id)
        say(ws, "yes please", "p1")
    with console.db() as session:
        booked = session.scalars(
            select(Appointment).where(Appointment.created_at == console.clock())
        ).all()
    assert len(booked) == 1, "the real action booked the visit"

    after = kpis(console)
    assert int(after["bookings"]) == int(before["bookings"]) + 1
    assert int(kpis(console, "?channel=webchat")["bookings"]) == int(web_before["bookings"]) + 1
    assert kpis(console, "?channel=sms")["bookings"] == sms_before["bookings"]
    assert int(_today(csv_rows(console, "bot_actions"))["Bookings"]) == (
        int(table_before["Bookings"]) + 1
    )
    # Six minutes of phone time per booking by default: the estimate moves by 0.1 h.
    assert float(after["hours_saved"].split()[0]) == pytest.approx(
        float(before["hours_saved"].split()[0]) + 0.1, abs=0.051
    )
    # The manager sees counts, never the patient who booked.
    page = console.client.get("/console/insights").text
    patient = demo_patient(console)
    assert patient.last_name not in page and patient.first_name not in page
    assert patient.phone and patient.phone not in page


def test_an_escalation_lowers_containment_and_staff_reply_time_is_measured(
    console: Console, manager: int
) -> None:
    scripted(console).replies = lambda text: (
        [{"action": "action_escalate", "intent": "request_human"}]
        if "person" in text
        else [{"text": f"bot heard: {text}"}]
    )
    start = kpis(console)
    with chat(console) as (ws, _contained_id):
        say(ws, "what time do you open", "p1")
    contained = kpis(console)
    assert int(contained["conversations"]) == int(start["conversations"]) + 1
    assert contained["escalated"] == start["escalated"]
    reasons_before = sum(
        int(r["Escalations"])
        for r in csv_rows(console, "escalations")
        if r["Reason"] == "Asked for a person"
    )

    with chat(console) as (ws, public_id):
        say(ws, "can I talk to a person", "p1")
    escalated = kpis(console)
    assert int(escalated["conversations"]) == int(contained["conversations"]) + 1
    assert int(escalated["escalated"]) == int(contained["escalated"]) + 1
    assert float(escalated["containment"].rstrip("%")) < float(contained["containment"].rstrip("%"))
    assert conversation_row(console, public_id).escalation_reason is (
        EscalationReason.PATIENT_REQUEST
    )
    reasons_after = sum(
        int(r["Escalations"])
        for r in csv_rows(console, "escalations")
        if r["Reason"] == "Asked for a person"
    )
    assert reasons_after == reasons_before + 1
    today = _today(csv_rows(console, "conversations", "?channel=webchat"), Channel="Web chat")
    assert int(today["Escalated"]) >= 1

    # A front-desk colleague claims it and answers seven minutes later.
    console.add_staff("morgan@riverside.example", name="Morgan Desk")
    switch_to(console, "morgan@riverside.example")
    console.clock.advance(minutes=7)
    base = f"/console/conversations/{public_id}"
    assert _post(console, f"{base}/claim").status_code == 303
    assert _post(console, f"{base}/reply", text="Hello, this is Morgan").status_code == 303
    switch_to(console, "pat@riverside.example")
    answered = _today(csv_rows(console, "first_response"))
    assert int(answered["Escalations answered"]) >= 1
    assert kpis(console)["first_response"] != "–"
    if int(answered["Escalations answered"]) == 1:
        assert answered["Median minutes to first staff reply"] == "7.0"


def _past_visit(console: Console, *, source: str = "webchat", hours_ago: float = 3) -> int:
    patient = demo_patient(console)
    with console.db() as session:
        provider = session.scalars(
            select(Provider).where(Provider.practice_id == console.practice_id)
        ).first()
        visit_type = session.scalars(
            select(VisitType).where(VisitType.practice_id == console.practice_id)
        ).first()
        assert provider is not None and visit_type is not None
        start = console.clock() - timedelta(hours=hours_ago)
        visit = factories.appointment(
            session,
            patient=session.merge(patient),
            provider=provider,
            visit_type=visit_type,
            start=start,
            source=source,
            status=AppointmentStatus.NOSHOW if source == "ehr" else AppointmentStatus.BOOKED,
        )
        session.flush()
        return visit.id


def test_a_no_show_marked_by_staff_counts_and_one_from_the_ehr_counts_apart(
    console: Console, manager: int
) -> None:
    before = _today(csv_rows(console, "no_shows"))
    total_before = number(console, "no_shows")
    with chat(console) as (_ws, public_id):
        identify(console, public_id)
    visit_id = _past_visit(console)
    upcoming_id = _past_visit(console, hours_ago=-26)  # tomorrow: cannot be a no-show yet
    _past_visit(console, source="ehr", hours_ago=5)  # the EHR pull said "noshow"

    console.add_staff("morgan@riverside.example", name="Morgan Desk")  # front desk marks it
    switch_to(console, "morgan@riverside.example")
    base = f"/console/conversations/{public_id}"
    page = console.client.get(base).text
    assert f'data-testid="mark-no-show-{visit_id}"' in page
    assert f"mark-no-show-{upcoming_id}" not in page
    refused = _post(console, f"{base}/visits/{upcoming_id}/no-show")
    assert refused.status_code == 409
    assert _post(console, f"{base}/visits/{visit_id}/no-show").status_code == 303
    again = _post(console, f"{base}/visits/{visit_id}/no-show")
    assert again.status_code == 409, "a visit is marked once"
    with console.db() as session:
        assert session.get_one(Appointment, visit_id).status is AppointmentStatus.NOSHOW
        marks = session.scalars(
            select(InsightEvent).where(InsightEvent.kind == InsightKind.NO_SHOW_MARKED)
        ).all()
        assert [m.appointment_id for m in marks] == [visit_id]
    [audit] = _audits(console, "appointment.no_show")
    assert audit.subject_id == str(visit_id)

    switch_to(console, "pat@riverside.example")
    assert number(console, "no_shows") == total_before + 2
    after = _today(csv_rows(console, "no_shows"))
    assert int(after["Marked by staff"]) == int(before["Marked by staff"]) + 1
    assert int(after["From the EHR"]) == int(before["From the EHR"]) + 1


def test_a_confirmation_after_a_reminder_counts_for_the_bot_and_the_reminder(
    console: Console, manager: int
) -> None:
    before = kpis(console)
    reminded_before = _today(csv_rows(console, "reminders"))
    with chat(console) as (ws, public_id):
        patient_id = identify(console, public_id)
        visit_id = _past_visit(console, hours_ago=-48)  # in two days
        with console.db() as session:
            visit = session.get_one(Appointment, visit_id)
            assert visit.patient_id == patient_id
            # What the reminder scheduler leaves behind once it queued the 2-day reminder.
            session.add(
                ScheduledReminder(
                    practice_id=console.practice_id,
                    appointment_id=visit_id,
                    patient_id=patient_id,
                    kind=ReminderKind.REMINDER,
                    offset_minutes=2 * 24 * 60,
                    appointment_start=visit.start_at,
                    due_at=console.clock() - timedelta(hours=1),
                    status=ReminderStatus.SENT,
                    sent_at=console.clock() - timedelta(hours=1),
                )
            )
        scripted(console).replies = lambda text: [
            {
                "action": "action_confirm_appointment",
                "intent": "confirm_appointment",
                "slots": {"appointment_ref": appointment_ref(visit_id)},
            },
            RENDERED,
        ]
        say(ws, "C", "p1")
        say(ws, "C", "p2")  # confirming twice is one confirmation
    after = kpis(console)
    assert int(after["confirmations"]) == int(before["confirmations"]) + 1
    assert int(after["reminders_sent"]) == int(before["reminders_sent"]) + 1
    reminded = _today(csv_rows(console, "reminders"))
    assert int(reminded["Confirmed"]) == int(reminded_before["Confirmed"]) + 1
    assert int(reminded["Sent"]) == int(reminded_before["Sent"]) + 1
    # Reminders are texts: the web chat view has none.
    assert kpis(console, "?channel=webchat")["reminders_sent"] == "0"


@pytest.mark.parametrize("role", [StaffRole.FRONT_DESK, StaffRole.BILLING])
def test_staff_without_the_manager_role_get_403(console: Console, role: StaffRole) -> None:
    console.add_staff("desk@riverside.example", role)
    assert console.sign_in("desk@riverside.example").status_code == 303
    for path in (
        "/console/insights",
        "/console/insights/summary",
        "/console/insights/export/conversations.csv",
    ):
        assert console.client.get(path).status_code == 403, path
    assert _post(console, "/console/insights/assumptions", minutes_per_booking="9").status_code == (
        403
    )
    assert 'href="/console/insights"' not in console.client.get("/console").text


@pytest.mark.parametrize("role", [StaffRole.MANAGER, StaffRole.ADMIN])
def test_managers_and_admins_see_the_page_and_every_view_is_audited(
    console: Console, role: StaffRole
) -> None:
    console.add_staff("boss@riverside.example", role)
    assert console.sign_in("boss@riverside.example").status_code == 303
    assert 'href="/console/insights"' in console.client.get("/console").text
    for query in ("", "?period=week", "?period=month&channel=sms", "?from=2026-11-01"):
        page = console.client.get("/console/insights" + query)
        assert page.status_code == 200
        assert page.text.count("<svg") == 4
    assert len(_audits(console, "insights.view")) == 4
    assert {a.subject_id for a in _audits(console, "insights.view")} == {str(console.practice_id)}


def test_signed_out_visitors_are_sent_to_sign_in(console: Console) -> None:
    response = console.client.get(
        "/console/insights", headers={"accept": "text/html"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login")


def test_csv_export_holds_the_table_for_the_chosen_window(console: Console, manager: int) -> None:
    scripted(console).replies = lambda text: [{"text": "hello"}]
    with chat(console) as (ws, _):
        say(ws, "hi", "p1")
    rows = csv_rows(console, "conversations")
    assert list(rows[0]) == [
        "Period",
        "Channel",
        "Conversations",
        "Contained",
        "Escalated",
        "Contained %",
    ]
    assert len(rows) == 30 * 2  # thirty days, two channels
    today = _today(rows, Channel="Web chat")
    assert int(today["Conversations"]) >= 1
    assert int(today["Conversations"]) == int(today["Contained"]) + int(today["Escalated"])
    weekly = csv_rows(console, "conversations", "?period=week&channel=webchat")
    assert len(weekly) == 12 and {r["Channel"] for r in weekly} == {"Web chat"}
    assert weekly[-1]["Period"] == "2026-11-23"  # the Monday of the clock's week
    assert sum(int(r["Conversations"]) for r in weekly[-1:]) >= int(today["Conversations"])
    monthly = csv_rows(console, "reminders", "?period=month")
    assert [r["Period"] for r in monthly][-2:] == ["2026-10", "2026-11"]
    response = console.client.get("/console/insights/export/conversations.csv")
    assert "attachment;" in response.headers["content-disposition"]
    assert console.client.get("/console/insights/export/patients.csv").status_code == 404
    assert console.client.get("/console/insights?from=someday").status_code == 400
    assert len(_audits(console, "insights.export")) == 4  # the 404 is not an export
    headers = {
        "escalations": "Period,Reason,Escalations",
        "bot_actions": "Period,Bookings,Reschedules,Cancellations,Confirmations",
        "no_shows": "Period,No-shows,Marked by staff,From the EHR",
        "waitlist": "Period,Offers sent,Slots filled,Median minutes freed to filled",
        "first_response": "Period,Escalations answered,Median minutes to first staff reply",
        "knowledge": "Period,Answered,Abstained,Answered %",
        "value": "Kind,Item,Count,Assumption,Amount",
    }
    for key, header in headers.items():
        text = console.client.get(f"/console/insights/export/{key}.csv").text
        assert text.splitlines()[0] == header, key


def test_assumptions_are_stored_per_practice_and_move_the_estimate(
    console: Console, manager: int
) -> None:
    page = console.client.get("/console/insights").text
    assert 'name="minutes_per_booking"' in page and 'value="6"' in page
    fields = {
        "minutes_per_booking": "12",
        "minutes_per_reschedule": "5",
        "minutes_per_cancellation": "3",
        "minutes_per_confirmation": "2",
        "minutes_per_question": "3",
        "visit_value": "180.50",
        "refill_credit_percent": "100",
        "reschedule_credit_percent": "50",
    }
    saved = _post(console, "/console/insights/assumptions", **fields)
    assert saved.status_code == 303
    value = {r["Item"]: r for r in csv_rows(console, "value")}
    assert value["Bookings by the bot"]["Assumption"] == "12 min"
    assert value["Freed slots refilled from the waitlist"]["Assumption"] == "$180.50 × 100%"
    assert len(_audits(console, "insights.assumptions")) == 1

    bad = _post(console, "/console/insights/assumptions", **{**fields, "minutes_per_booking": "-3"})
    assert bad.status_code == 400
    assert "Staff minutes per phone booking: between 0 and 120" in bad.text
    worse = _post(console, "/console/insights/assumptions", **{**fields, "visit_value": "lots"})
    assert worse.status_code == 400
    value = {r["Item"]: r for r in csv_rows(console, "value")}
    assert value["Bookings by the bot"]["Assumption"] == "12 min", "a refused form saves nothing"


def test_the_monthly_summary_prints_one_month(console: Console, manager: int) -> None:
    page = console.client.get("/console/insights/summary")
    assert page.status_code == 200
    assert "November 2026" in page.text
    assert "Save as PDF" in page.text
    assert page.text.count("<svg") == 2
    october = console.client.get("/console/insights/summary?month=2026-10")
    assert "October 2026" in october.text
    assert console.client.get("/console/insights/summary?month=2026-13").status_code == 400
    assert console.client.get("/console/insights/summary?month=soon").status_code == 422
    [first, second] = _audits(console, "insights.summary")
    assert (first.reason, second.reason) == ("2026-11", "2026-10")
    css = console.client.get("/static/console.css").text
    assert "@media print" in css


def _verify(console: Console, public_id: str) -> None:
    """What a correct identity code leaves on the conversation."""
    with console.db() as session:
        conversation = session.scalar(
            select(Conversation).where(Conversation.public_id == public_id)
        )
        assert conversation is not None
        conversation.identity_verified_at = console.clock()


def test_a_cancellation_and_a_reschedule_by_the_bot_each_count_once(
    console: Console, manager: int
) -> None:
    before = kpis(console)
    with chat(console) as (ws, public_id):
        identify(console, public_id)
        _verify(console, public_id)
        cancelled = _past_visit(console, hours_ago=-72)
        moved = _past_visit(console, hours_ago=-96)
        key = open_slot_key(console)
        for ref, action, extra in (
            (cancelled, "action_cancel_appointment", {}),
            (moved, "action_reschedule_appointment", {"slot_choice": key}),
        ):
            step: dict[str, Any] = {
                "action": action,
                "intent": "affirm",
                "slots": {
                    "appointment_ref": appointment_ref(ref),
                    "change_confirmed": True,
                    **extra,
                },
            }

            def replies(text: str, step: dict[str, Any] = step) -> list[dict[str, Any]]:
                return [step, RENDERED]

            scripted(console).replies = replies
            say(ws, "yes", f"p-{ref}")
    with console.db() as session:
        assert session.get_one(Appointment, cancelled).status is AppointmentStatus.CANCELLED
        assert session.get_one(Appointment, moved).start_at == parse_slot_key(key)[1]
    after = kpis(console)
    assert int(after["cancellations"]) == int(before["cancellations"]) + 1
    assert int(after["reschedules"]) == int(before["reschedules"]) + 1
    value = {r["Item"]: r for r in csv_rows(console, "value")}
    assert (
        int(value["Visits rescheduled instead of lost"]["Count"]) == int(before["reschedules"]) + 1
    )
