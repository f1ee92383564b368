"""The practice set-up pages (`/console/admin`) through HTTP: who may use them, how the form
is checked, what is audited, and that slot search sees a change at once.

The harness seeds the demo practice (Riverside, America/New_York) and fixes the clock at
`tests.conftest.NOW` (Saturday 2026-11-28, 10:00 in New York), so the open times asked for
below are the same on any day the tests run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from frontdesk.audit.models import AuditEvent
from frontdesk.audit.service import verify_chain
from frontdesk.auth.models import StaffRole
from frontdesk.practices.models import Practice, Provider
from frontdesk.reminders.models import ScheduledReminder
from frontdesk.reminders.planning import plan_outreach
from frontdesk.scheduling.models import Appointment, AppointmentStatus, ScheduleException, VisitType
from frontdesk.sms.consent import record_consent
from frontdesk.sms.models import OutboundSms
from tests import factories
from tests.auth.support import Console

ADMIN = "avery.admin@riverside.example"
MONDAY = "2026-11-30"  # the first weekday after NOW with bookable hours left


def sign_in_admin(console: Console, email: str = ADMIN, practice_id: int | None = None) -> int:
    actor = console.add_staff(email, StaffRole.ADMIN, name="Avery Admin", practice_id=practice_id)
    assert console.sign_in(email).status_code == 303
    return actor


def post(console: Console, path: str, fields: dict[str, str], **headers: str) -> Any:
    token = console.page_csrf("/console/admin")
    return console.client.post(
        path,
        data={"csrf_token": token, **fields},
        headers={"Origin": "https://testserver", **headers},
        follow_redirects=False,
    )


def offered(console: Console, visit_type: str, when: str = "asap") -> list[dict[str, Any]]:
    response = console.client.get(
        "/api/practices/riverside/open-slots",
        params={"visit_type": visit_type, "when": when, "limit": 20},
    )
    assert response.status_code == 200, response.text
    slots: list[dict[str, Any]] = response.json()
    return slots


def edits(console: Console) -> list[AuditEvent]:
    with console.db() as db:
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "practice.edit").order_by(AuditEvent.seq)
        ).all()
        db.expunge_all()
        return list(rows)


def sick_visit_form(**changes: str) -> dict[str, str]:
    fields = {
        "name": "Sick visit",
        "names.es": "Consulta por enfermedad",
        "minutes": "20",
        "keywords": "sick, ill, cold, flu, fever, cough, sore throat, not feeling well, rash, "
        "enfermo, enferma, gripe, resfriado, fiebre, tos, dolor de garganta",
        "patients": "any",
        "active": "on",
    }
    return {**fields, **changes}


@pytest.mark.parametrize("role", [StaffRole.FRONT_DESK, StaffRole.BILLING, StaffRole.MANAGER])
def test_only_admins_may_open_or_post(console: Console, role: StaffRole) -> None:
    email = f"{role.value}@riverside.example"
    console.add_staff(email, role)
    assert console.sign_in(email).status_code == 303
    for path in ("/console/admin", "/console/admin/providers/new", "/console/admin/reminders"):
        assert console.client.get(path).status_code == 403
    token = console.page_csrf("/console")
    refused = console.client.post(
        "/console/admin/visit-types/edit?code=sick-visit",
        data={"csrf_token": token, **sick_visit_form(minutes="30")},
        headers={"Origin": "https://testserver"},
    )
    assert refused.status_code == 403
    assert _minutes(offered(console, "sick-visit")[0]) == 20
    assert edits(console) == []


def test_signed_out_visitors_are_sent_to_sign_in(console: Console) -> None:
    page = console.client.get(
        "/console/admin", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login?next=%2Fconsole%2Fadmin")


def test_an_admin_of_another_practice_sees_and_reaches_only_their_own(console: Console) -> None:
    with console.db() as db:
        other = factories.practice(db, slug="maple", name="Maple Street Clinic")
        factories.provider(db, practice=other, display_name="Dr. Rosa Field")
        other_id = other.id
    sign_in_admin(console, "admin@maple.example", practice_id=other_id)
    page = console.client.get("/console/admin")
    assert page.status_code == 200
    assert "Dr. Rosa Field" in page.text and "Dr. Amara Patel" not in page.text
    riverside_provider = "/console/admin/providers/edit?name=Dr.%20Amara%20Patel"
    assert console.client.get(riverside_provider).status_code == 404
    response = post(console, riverside_provider, {"location": "x", "active": ""})
    assert response.status_code == 404
    with console.db() as db:
        patel = db.scalar(select(Provider).where(Provider.display_name == "Dr. Amara Patel"))
        assert patel is not None and patel.active


def test_changing_a_visit_length_is_audited_and_offered_at_once(console: Console) -> None:
    actor = sign_in_admin(console)
    before = offered(console, "sick-visit")[0]
    assert _minutes(before) == 20
    form = console.client.get("/console/admin/visit-types/edit?code=sick-visit")
    assert form.status_code == 200 and 'value="20"' in form.text
    assert 'value="Consulta por enfermedad"' in form.text  # its Spanish name, kept on save

    response = post(
        console, "/console/admin/visit-types/edit?code=sick-visit", sick_visit_form(minutes="30")
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/admin?done=saved"
    assert _minutes(offered(console, "sick-visit")[0]) == 30
    [event] = edits(console)
    assert event.actor_id == actor and event.subject_type == "practice"
    assert event.reason == "console visit types: ~ visit type 'sick-visit': minutes 20 -> 30"
    with console.db() as db:
        assert verify_chain(session=db, practice_id=console.practice_id).ok

    again = post(
        console, "/console/admin/visit-types/edit?code=sick-visit", sick_visit_form(minutes="30")
    )
    assert again.headers["location"] == "/console/admin?done=unchanged"
    assert len(edits(console)) == 1


def test_an_invalid_visit_type_is_shown_with_its_field_and_changes_nothing(
    console: Console,
) -> None:
    sign_in_admin(console)
    response = post(
        console,
        "/console/admin/visit-types/edit?code=sick-visit",
        sick_visit_form(minutes="7", buffer_after_minutes="soon"),
    )
    assert response.status_code == 422
    minutes = _error(response.text, "minutes")
    assert "multiple of 5" in minutes
    assert "valid integer" in _error(response.text, "buffer_after_minutes")
    assert 'id="f-minutes" name="minutes" type="number" value="7"' in response.text
    assert 'aria-invalid="true" aria-describedby="f-minutes-hint f-minutes-error"' in response.text
    assert _minutes(offered(console, "sick-visit")[0]) == 20
    assert edits(console) == []

    duplicate = post(console, "/console/admin/visit-types/new", sick_visit_form(code="sick-visit"))
    assert duplicate.status_code == 422
    assert "sick-visit" in duplicate.text and 'data-testid="form-errors"' in duplicate.text


def test_a_new_visit_type_limited_to_one_provider(console: Console) -> None:
    sign_in_admin(console)
    form = console.client.get("/console/admin/visit-types/new")
    providers = re.findall(r'name="(offer\.\d+)"[^>]*> ([^<]+)</label>', form.text)
    nguyen = next(name for name, label in providers if label == "Dr. Lucas Nguyen")
    response = post(
        console,
        "/console/admin/visit-types/new",
        {
            "code": "flu-shot",
            "name": "Flu shot",
            "minutes": "10",
            "patients": "any",
            nguyen: "on",
            "active": "on",
            "keywords": "flu shot, vaccine",
        },
    )
    assert response.status_code == 303, response.text
    slots = offered(console, "flu shot")
    assert slots and {slot["provider_name"] for slot in slots} == {"Dr. Lucas Nguyen"}
    assert _minutes(slots[0]) == 10
    assert [e.reason for e in edits(console)] == ["console visit types: + visit type 'flu-shot'"]


def test_providers_are_added_checked_and_retired(console: Console) -> None:
    sign_in_admin(console)
    bad = post(
        console,
        "/console/admin/providers/new",
        {
            "name": "Dr. Jo Rivera",
            "location": "Riverside Main Clinic",
            "active": "on",
            "hours.monday": "9-5",
        },
    )
    assert bad.status_code == 422
    assert "is not a time span" in _error(bad.text, "hours.monday")
    overlap = post(
        console,
        "/console/admin/providers/new",
        {
            "name": "Dr. Jo Rivera",
            "location": "Riverside Main Clinic",
            "active": "on",
            "hours.monday": "08:00-12:00, 11:00-13:00",
        },
    )
    assert overlap.status_code == 422 and _error(overlap.text, "hours.monday")

    added = post(
        console,
        "/console/admin/providers/new",
        {
            "name": "Dr. Jo Rivera",
            "location": "Riverside Main Clinic",
            "active": "on",
            "hours.sunday": "09:00-17:00",
        },
    )
    assert added.status_code == 303
    names = {p["name"] for p in console.client.get("/api/practices/riverside").json()["providers"]}
    assert "Dr. Jo Rivera" in names
    # NOW is Saturday: with Sunday hours, Dr. Rivera has the earliest sick visits.
    assert offered(console, "sick-visit")[0]["provider_name"] == "Dr. Jo Rivera"

    retired = post(
        console,
        "/console/admin/providers/edit?name=Dr.%20Jo%20Rivera",
        {"location": "Riverside Main Clinic", "hours.sunday": "09:00-17:00"},
    )
    assert retired.status_code == 303
    names = {p["name"] for p in console.client.get("/api/practices/riverside").json()["providers"]}
    assert "Dr. Jo Rivera" not in names
    assert "Dr. Jo Rivera" not in {s["provider_name"] for s in offered(console, "sick-visit")}
    assert [e.reason for e in edits(console)] == [
        "console providers: + provider 'Dr. Jo Rivera'",
        "console providers: ~ provider 'Dr. Jo Rivera': active (none) -> False",
    ]


def _book_on_monday(console: Console, *, opted_out: bool = False) -> list[int]:
    """Two visits with Dr. Patel on MONDAY (one patient opted out of texts if asked)."""
    with console.db() as db:
        practice = db.get_one(Practice, console.practice_id)
        patel = db.scalar(select(Provider).where(Provider.display_name == "Dr. Amara Patel"))
        sick = db.scalar(select(VisitType).where(VisitType.code == "sick-visit"))
        assert patel is not None and sick is not None
        ids = []
        for n, hour in enumerate((14, 16)):  # 09:00 and 11:00 in New York
            person = factories.patient(
                db, practice=practice, preferred_language="es" if n else None
            )
            start = datetime.fromisoformat(MONDAY).replace(hour=hour, tzinfo=UTC)
            ids.append(
                factories.appointment(
                    db, patient=person, provider=patel, visit_type=sick, start=start
                ).id
            )
            if opted_out and n == 1:
                assert person.phone is not None
                record_consent(
                    session=db,
                    practice_id=practice.id,
                    phone=person.phone,
                    opted_out=True,
                    keyword="STOP",
                    now=console.clock(),
                )
        return ids


def test_time_off_over_booked_visits_asks_first_then_texts_and_never_cancels(
    console: Console,
) -> None:
    sign_in_admin(console)
    visits = _book_on_monday(console, opted_out=True)
    time_off = {"provider": "Dr. Amara Patel", "first_day": MONDAY, "reason": "Conference"}
    assert "Dr. Amara Patel" in {
        s["provider_name"] for s in offered(console, "sick-visit", "monday")
    }

    ask = post(console, "/console/admin/exceptions/new", time_off)
    assert ask.status_code == 200
    assert "2 booked visits fall inside this time off" in ask.text
    assert f"#{visits[0]}" in ask.text and f"#{visits[1]}" in ask.text
    assert "No (no phone, or opted out)" in ask.text
    with console.db() as db:
        assert (
            db.scalars(
                select(ScheduleException).where(ScheduleException.reason == "Conference")
            ).all()
            == []
        )

    done = post(
        console, "/console/admin/exceptions/new", {**time_off, "confirmed": "yes", "notify": "on"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/console/admin?done=texted"
    monday = offered(console, "sick-visit", "monday")
    assert monday and "Dr. Amara Patel" not in {s["provider_name"] for s in monday}
    with console.db() as db:
        statuses = db.scalars(select(Appointment.status).where(Appointment.id.in_(visits))).all()
        assert set(statuses) == {AppointmentStatus.BOOKED}
        texts = db.scalars(
            select(OutboundSms).where(OutboundSms.kind == "reschedule_request")
        ).all()
        assert len(texts) == 1  # the opted-out patient gets nothing
        assert (
            "Riverside Family Medicine: we need to move your appointment on Mon, Nov 30 at 9:00 AM"
            in texts[0].body
        )
        assert "Patel" not in texts[0].body and "Sick" not in texts[0].body
        actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert "appointment.reschedule_request" in actions
    assert [e.reason for e in edits(console)] == [
        "console time off: + exception 2026-11-30 (Dr. Amara Patel) 'Conference'"
    ]

    overview = console.client.get("/console/admin")
    key = re.search(r'name="key" value="(Dr. Amara Patel\|2026-11-30\|\|)"', overview.text)
    assert key is not None
    removed = post(console, "/console/admin/exceptions/remove", {"key": key.group(1)})
    assert removed.status_code == 303
    assert "Dr. Amara Patel" in {
        s["provider_name"] for s in offered(console, "sick-visit", "monday")
    }


def test_part_of_a_day_off_texts_each_patient_in_their_language(console: Console) -> None:
    sign_in_admin(console)
    visits = _book_on_monday(console)
    morning = {
        "provider": "Dr. Amara Patel",
        "starts": f"{MONDAY}T08:00",
        "ends": f"{MONDAY}T12:00",
        "reason": "Training",
        "confirmed": "yes",
        "notify": "on",
    }
    assert post(console, "/console/admin/exceptions/new", morning).status_code == 303
    patel = [s for s in offered(console, "sick-visit", "monday") if "Patel" in s["provider_name"]]
    assert patel and all(s["local_start"][11:16] >= "13:00" for s in patel)
    with console.db() as db:
        texts = db.scalars(
            select(OutboundSms.body).where(OutboundSms.kind == "reschedule_request")
        ).all()
        statuses = db.scalars(select(Appointment.status).where(Appointment.id.in_(visits))).all()
    assert set(statuses) == {AppointmentStatus.BOOKED}
    assert len(texts) == 2
    assert any(
        "necesitamos cambiar su cita del lunes 30 de noviembre a las 11:00" in t for t in texts
    )
    # The same confirmation posted twice texts nobody twice.
    assert post(console, "/console/admin/exceptions/new", morning).status_code == 303
    with console.db() as db:
        again = db.scalars(select(OutboundSms.id).where(OutboundSms.kind == "reschedule_request"))
        assert len(again.all()) == 2


def test_an_sms_number_of_another_practice_is_refused(console: Console) -> None:
    with console.db() as db:
        other = factories.practice(db, slug="maple")
        factories.sms_number(db, practice=other, phone="+15555550177")
    sign_in_admin(console)
    taken = post(
        console,
        "/console/admin/channels",
        {"sms_numbers": "+15555550199\n+15555550177", "widget_origins": "http://localhost:*"},
    )
    assert taken.status_code == 422
    assert "+15555550177 already belongs to another practice" in taken.text
    assert edits(console) == []


def test_time_off_without_visits_needs_no_confirmation_and_bad_days_are_shown(
    console: Console,
) -> None:
    sign_in_admin(console)
    backwards = post(
        console,
        "/console/admin/exceptions/new",
        {"provider": "", "first_day": "2026-12-24", "last_day": "2026-12-20", "reason": "Holidays"},
    )
    assert backwards.status_code == 422 and "last_day is before first_day" in backwards.text
    holiday = post(
        console,
        "/console/admin/exceptions/new",
        {"provider": "", "first_day": MONDAY, "last_day": "2026-12-01", "reason": "Closed"},
    )
    assert holiday.status_code == 303
    assert holiday.headers["location"] == "/console/admin?done=saved"
    assert offered(console, "sick-visit")[0]["local_start"][:10] == "2026-12-02"


def test_reminders_and_channels_are_checked_like_the_file(console: Console) -> None:
    sign_in_admin(console)
    bad = post(
        console,
        "/console/admin/reminders",
        {"offsets": "2d, soon", "sending_hours": "8-21", "daily_cap": "1", "weekly_cap": "3"},
    )
    assert bad.status_code == 422
    assert "is not a duration" in _error(bad.text, "offsets")
    assert "is not a time span" in _error(bad.text, "sending_hours")
    good = post(
        console,
        "/console/admin/reminders",
        {
            "offsets": "3d, 3h",
            "sending_hours": "09:00-20:00",
            "daily_cap": "1",
            "weekly_cap": "3",
            "no_show_followup": "on",
        },
    )
    assert good.status_code == 303
    assert [e.reason for e in edits(console)] == [
        "console reminders: ~ practice: reminders.offsets (none) -> ['3d', '3h']",
        "console reminders: ~ practice: reminders.sending_hours (none) -> '09:00-20:00'",
    ]

    numbers = post(
        console,
        "/console/admin/channels",
        {
            "sms_numbers": "+15555550199\n555-0198",
            "widget_origins": "https://www.riverside.example",
        },
    )
    assert numbers.status_code == 422
    assert "E.164" in _error(numbers.text, "sms_numbers")
    origins = post(
        console,
        "/console/admin/channels",
        {"sms_numbers": "+15555550199", "widget_origins": "https://www.riverside.example"},
    )
    assert origins.status_code == 303
    reasons = [e.reason for e in edits(console)]
    assert "console channels: + widget origin 'https://www.riverside.example'" in reasons
    assert "console channels: - widget origin 'http://localhost:*'" in reasons


def test_the_next_planning_tick_uses_the_new_reminder_cadence(console: Console) -> None:
    sign_in_admin(console)
    [visit] = _book_on_monday(console)[:1]
    saved = post(
        console,
        "/console/admin/reminders",
        {"offsets": "1d", "daily_cap": "1", "weekly_cap": "3", "no_show_followup": "on"},
    )
    assert saved.status_code == 303
    with console.db() as db:
        plan_outreach(session=db, now=console.clock())
        offsets = db.scalars(
            select(ScheduledReminder.offset_minutes).where(
                ScheduledReminder.appointment_id == visit
            )
        ).all()
    assert offsets == [24 * 60]


def test_posts_need_the_csrf_token_and_this_origin(console: Console) -> None:
    sign_in_admin(console)
    token = console.page_csrf("/console/admin")
    path = "/console/admin/visit-types/edit?code=sick-visit"
    no_token = console.client.post(path, data=sick_visit_form(minutes="30"))
    assert no_token.status_code == 403
    other_site = console.client.post(
        path,
        data={"csrf_token": token, **sick_visit_form(minutes="30")},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    assert _minutes(offered(console, "sick-visit")[0]) == 20


def _minutes(slot: dict[str, Any]) -> int:
    start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
    return (end - start) // timedelta(minutes=1)


def _error(page: str, field: str) -> str:
    found = re.search(rf'data-testid="error-{re.escape(field)}">([^<]*)<', page)
    assert found is not None, f"no error shown for {field}"
    return found.group(1)
