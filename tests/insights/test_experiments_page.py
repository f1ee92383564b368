"""Reminder experiments on the insights page: each arm's attendance from no-shows (EHR status
or staff marking) and advance cancellations, the verdict, the interval chart and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from frontdesk.audit.models import AuditEvent
from frontdesk.experiments.stats import newcombe_difference
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import AppointmentStatus, VisitType
from tests import factories
from tests.auth.support import Console
from tests.experiments.support import set_up, wording_spec
from tests.insights.support import chat, demo_patient, identify

ARM_ROW = 'data-testid="experiment-wording"'


def _visit(console: Console, patient_id: int, hours_ago: float, **fields: object) -> int:
    with console.db() as session:
        provider = session.scalars(
            select(Provider).where(Provider.practice_id == console.practice_id)
        ).first()
        visit_type = session.scalars(
            select(VisitType).where(VisitType.practice_id == console.practice_id)
        ).first()
        assert provider is not None and visit_type is not None
        visit = factories.appointment(
            session,
            patient=session.get_one(Patient, patient_id),
            provider=provider,
            visit_type=visit_type,
            start=console.clock() - timedelta(hours=hours_ago),
            **fields,  # type: ignore[arg-type]
        )
        return visit.id


def _arms(console: Console) -> dict[str, dict[str, str]]:
    response = console.client.get("/console/insights/experiments/wording.csv")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/csv")
    return {row["Arm"]: row for row in csv.DictReader(io.StringIO(response.text))}


def test_arms_count_no_shows_and_advance_cancellations_and_say_when_not_yet_significant(
    console: Console, manager: int
) -> None:
    with chat(console) as (_ws, public_id):
        identify(console, public_id)
    jordan = demo_patient(console).id
    with console.db() as session:
        practice = session.get_one(Practice, console.practice_id)
        others = [factories.patient(session, practice=practice).id for _ in range(5)]
        first_day = (console.clock() - timedelta(days=3)).astimezone(ZoneInfo(practice.timezone))
        control, treated = [jordan, *others[:2]], others[2:]
        set_up(
            session,
            practice_id=practice.id,
            spec=wording_spec(first_day.date()),
            arms=[(p, "standard") for p in control] + [(p, "held-for-you") for p in treated],
        )
    unmarked = _visit(console, jordan, 3)
    _visit(console, control[1], 5, source="ehr", status=AppointmentStatus.NOSHOW)
    _visit(console, control[2], 7)
    _visit(console, treated[0], 26)
    _visit(console, treated[1], 28, status=AppointmentStatus.FULFILLED)
    start = console.clock() - timedelta(hours=30)
    _visit(
        console,
        treated[2],
        30,
        status=AppointmentStatus.CANCELLED,
        cancelled_at=start - timedelta(days=2),
    )
    _visit(console, treated[0], -26)  # tomorrow: pending

    before = _arms(console)
    assert before["standard (control)"]["No-shows"] == "1"  # the EHR's "noshow"
    assert before["standard (control)"]["Attended"] == "2"  # Jordan's visit ended unmarked

    token = console.page_csrf("/console")
    marked = console.client.post(
        f"/console/conversations/{public_id}/visits/{unmarked}/no-show",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert marked.status_code == 303
    arms = _arms(console)
    standard, held = arms["standard (control)"], arms["held-for-you"]
    assert (standard["Visits"], standard["Attended"], standard["No-shows"]) == ("3", "1", "2")
    assert standard["No-show %"] == "66.7"
    assert (held["Visits"], held["Attended"], held["No-shows"], held["Pending"]) == (
        "3",
        "2",
        "0",
        "1",
    )
    assert (held["Cancelled ahead"], held["Cancelled ahead %"]) == ("1", "33.3")
    expected = newcombe_difference(0, 2, 2, 3)
    assert expected is not None and expected.contains_zero()
    assert held["Difference vs control (points)"] == "-66.7"
    assert (held["Difference low"], held["Difference high"]) == (
        f"{100 * expected.low:.1f}",
        f"{100 * expected.high:.1f}",
    )
    assert standard["Difference vs control (points)"] == "", "the control is the baseline"

    page = console.client.get("/console/insights")
    assert page.status_code == 200
    assert ARM_ROW in page.text
    assert (
        "held-for-you vs standard: no-show rate 66.7 points lower (95 % CI "
        f"{100 * expected.low:.1f} to {100 * expected.high:.1f}), not yet significant"
    ) in page.text
    assert "No-show rate by arm: Held-for-you wording" in page.text  # the SVG's title
    with console.db() as session:
        exports = session.scalars(
            select(AuditEvent.reason).where(AuditEvent.action == "insights.export")
        ).all()
    assert exports == ["experiment wording"] * 2
    assert console.client.get("/console/insights/experiments/nope.csv").status_code == 404


def test_the_page_says_how_to_start_an_experiment_when_there_is_none(
    console: Console, manager: int
) -> None:
    page = console.client.get("/console/insights")
    assert "No reminder experiments." in page.text
    assert "experiment-" not in page.text.split('id="experiments"')[1].split("</section>")[0]
