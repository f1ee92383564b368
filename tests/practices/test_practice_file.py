"""The practice file through its real entry points: `frontdesk practice validate|apply|export`
on a migrated database, and the apply/export round trip on every backend."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from ruamel.yaml import YAML
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from frontdesk.audit.models import AuditEvent
from frontdesk.conversations import handoff
from frontdesk.db import make_session_factory, session_scope
from frontdesk.practices.config.canonical import canonical, to_yaml
from frontdesk.practices.config.loading import PracticeFileError, parse_practice
from frontdesk.practices.config.schema import practice_json_schema
from frontdesk.practices.config.state import (
    ApplyRefusedError,
    UnknownPracticeError,
    apply_practice,
    export_practice,
)
from frontdesk.practices.models import Practice, Provider
from frontdesk.reminders.models import ReminderSettings
from frontdesk.reminders.policy import DEFAULT_REMINDERS, policy_for
from frontdesk.scheduling.models import ScheduleException, VisitType, WeeklyHours
from frontdesk.settings import PROJECT_ROOT
from tests import factories
from tests.conftest import AT_NOW, NOW
from tests.support.commands import run

EXAMPLES = resources.files("frontdesk.practices").joinpath("examples")
PEDIATRIC = EXAMPLES.joinpath("pediatric.yaml").read_text("utf-8")
RIVERSIDE = EXAMPLES.joinpath("riverside.yaml").read_text("utf-8")
SCHEMA = PROJECT_ROOT / "docs" / "practice.schema.json"

BROKEN = """\
slug: broken
name: Broken Practice
timezone: America/New_Yrok
phone: 555-0100
locations:
  - name: Main
    address: 1 Example Street
providers:
  - name: Dr. One
    location: Main
    hours:
      monday: [09:00-12:00, 11:00-13:00]
      tuesday: [9-5]
  - name: Dr. Two
    location: Elsewhere
    specialtyy: typo
visit_types:
  - code: sick
    name: Sick visit
    minutes: 20
    providers: [Dr. One, Dr. Nobody]
sms_numbers:
  - phone: "+1555"
"""


def write(tmp_path: Path, text: str, name: str = "practice.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


# --- validate -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["riverside.yaml", "pediatric.yaml"])
def test_the_shipped_examples_validate(name: str, tmp_path: Path) -> None:
    text = EXAMPLES.joinpath(name).read_text("utf-8")
    result = run("practice", "validate", str(write(tmp_path, text, name)))
    assert result.exit_code == 0, result.output
    assert ": ok (" in result.output


def test_validate_names_the_practice_texts_spanish_speakers_would_read_in_english(
    tmp_path: Path,
) -> None:
    riverside = EXAMPLES.joinpath("riverside.yaml").read_text("utf-8")
    result = run("practice", "validate", str(write(tmp_path, riverside)))
    assert "note:" not in result.output  # the demo translates all of its own texts
    untranslated = edited(
        riverside, "    late_cancel_fee: puede aplicarse", "    # late_cancel_fee: puede aplicarse"
    )
    untranslated = edited(untranslated, "    names: {es: Consulta por enfermedad}\n", "")
    result = run("practice", "validate", str(write(tmp_path, untranslated)))
    assert result.exit_code == 0, result.output  # a note, not a problem
    note = result.output.splitlines()[-1]
    assert note.startswith("note: patients who write in Spanish read these as written")
    assert note.endswith(": cancellation.fee_text, visit type sick-visit")
    wrong = edited(riverside, "translations:\n  es:", "translations:\n  fr:")
    result = run("practice", "validate", str(write(tmp_path, wrong)))
    assert result.exit_code == 1 and "translations.fr" in result.output


def test_validate_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = run("practice", "validate", str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    expected = [
        (13, "providers[0].hours.tuesday[0]", "'9-5' is not a time span"),
        (16, "providers[1].specialtyy", "unknown key 'specialtyy'"),
    ]
    for line, where, message in expected:
        assert any(f"{path}:{line}: {where}: {message}" in out for out in lines), (line, lines)
    # Field errors come first; once the fields are right the whole-file checks run too.
    fixed = edited(edited(BROKEN, "[9-5]", "[09:00-17:00]"), "    specialtyy: typo\n", "")
    result = run("practice", "validate", str(write(tmp_path, fixed)))
    assert result.exit_code == 1
    out = result.output
    assert f"{path}:3: timezone: 'America/New_Yrok' is not a time zone" in out
    assert f"{path}:4: phone: '555-0100' is not a phone number in E.164 form" in out
    assert f"{path}:12: providers[0].hours.monday[1]: 11:00-13:00 overlaps 09:00-12:00" in out
    assert f"{path}:15: providers[1].location: unknown location 'Elsewhere'" in out
    assert f"{path}:20: visit_types[0].providers[1]: unknown provider 'Dr. Nobody'" in out
    assert f"{path}:22: sms_numbers[0].phone: '+1555'" in out
    assert "6 problem(s); nothing was changed" in out


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("slug: maple-peds", "slug: Maple Peds", "7: slug: 'Maple Peds' must be lower-case"),
        ('phone: "+15555550200"\noffice', 'phone: "+1 555 555 0200"\noffice', "as +15555550200"),
        ("    minutes: 30\n", "    minutes: 32\n", "multiple of 5"),
        ("    patients: new\n", "    patients: newish\n", "'newish' is not one of"),
        ("  - https://maple-peds.example\n", "  - https://Maple-Peds.example/\n", "write "),
        ("  offsets: [3d, 1d, 2h]", "  offsets: [3 days]", "is not a duration"),
        ("name: Maple Street Pediatrics\n", "", "'name' is required"),
        ("    last_day: 2026-12-25\n", "    last_day: 2026-12-20\n", "before first_day"),
        ("slug: maple-peds\n", "slug: [", "not valid YAML"),
    ],
)
def test_validate_explains_each_kind_of_mistake(
    old: str, new: str, message: str, tmp_path: Path
) -> None:
    result = run("practice", "validate", str(write(tmp_path, edited(PEDIATRIC, old, new))))
    assert result.exit_code == 1
    assert message in result.output


def test_a_file_that_is_not_a_mapping_or_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PracticeFileError, match="1 problem"):
        parse_practice("- just a list\n")
    result = run("practice", "validate", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1
    assert "cannot read the file" in result.output


# --- apply and export -----------------------------------------------------------------------


def test_apply_creates_then_reports_no_changes_and_export_round_trips(
    database: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path, PEDIATRIC)
    first = run("practice", "apply", str(path))
    assert first.exit_code == 0, first.output
    assert "+ practice 'maple-peds' (Maple Street Pediatrics)" in first.output
    assert "+ provider 'Jamie Ortiz, PNP'" in first.output
    assert "frontdesk kb ingest knowledge/docs/maple-peds --practice maple-peds" in first.output
    second = run("practice", "apply", str(path))
    assert second.exit_code == 0
    assert second.output.strip() == "maple-peds: no changes"

    exported = run("practice", "export", "maple-peds")
    assert exported.exit_code == 0
    assert exported.output == to_yaml(parse_practice(PEDIATRIC))
    again = run("practice", "apply", str(write(tmp_path, exported.output, "exported.yaml")))
    assert again.output.strip() == "maple-peds: no changes"
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        practice = db.scalars(select(Practice).where(Practice.slug == "maple-peds")).one()
        events = db.scalars(select(AuditEvent).where(AuditEvent.practice_id == practice.id))
        assert [event.action for event in events] == ["practice.apply"]


def test_dry_run_prints_the_diff_and_changes_nothing(database: Engine, tmp_path: Path) -> None:
    assert run("practice", "apply", str(write(tmp_path, PEDIATRIC))).exit_code == 0
    changed = edited(
        PEDIATRIC, "    minutes: 15\n    keywords: [sick", "    minutes: 20\n    keywords: [sick"
    )
    changed = edited(changed, "      saturday: [09:00-12:00]\n  - name: Jamie", "  - name: Jamie")
    path = write(tmp_path, changed)
    result = run("practice", "apply", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "~ visit type 'sick-visit': minutes 15 -> 20" in result.output
    assert (
        "~ provider 'Dr. Samuel Okafor': hours.saturday ['09:00-12:00'] -> (none)" in result.output
    )
    assert "dry run, 2 change(s) not applied" in result.output
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        sick = db.scalars(select(VisitType).where(VisitType.code == "sick-visit")).one()
        assert sick.duration_minutes == 15
    result = run("practice", "apply", str(path))
    assert "2 change(s) applied" in result.output
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        sick = db.scalars(select(VisitType).where(VisitType.code == "sick-visit")).one()
        assert sick.duration_minutes == 20
        okafor = db.scalars(select(Provider).where(Provider.display_name.startswith("Dr. S"))).one()
        days = set(
            db.scalars(select(WeeklyHours.weekday).where(WeeklyHours.provider_id == okafor.id))
        )
        assert days == {0, 2, 4}


def test_export_of_an_unknown_practice_fails_clearly(database: Engine, tmp_path: Path) -> None:
    result = run("practice", "export", "nobody")
    assert result.exit_code == 1
    assert "no practice 'nobody'" in result.output
    assert run("practice", "apply", str(write(tmp_path, PEDIATRIC))).exit_code == 0
    out = tmp_path / "out.yaml"
    assert run("practice", "export", "maple-peds", "-o", str(out)).exit_code == 0
    assert parse_practice(out.read_text("utf-8")) == canonical(parse_practice(PEDIATRIC))


def test_the_schema_in_docs_is_generated_and_the_examples_satisfy_it() -> None:
    committed = json.loads(SCHEMA.read_text("utf-8"))
    assert committed == practice_json_schema()
    printed = run("practice", "schema")
    assert json.loads(printed.output) == committed
    for text in (RIVERSIDE, PEDIATRIC):
        data = YAML(typ="safe").load(text)
        jsonschema.validate(_json_ready(data), committed)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_json_ready(YAML(typ="safe").load(BROKEN)), committed)


def _json_ready(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _json_ready(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_json_ready(item) for item in node]
    if isinstance(node, date | datetime):
        return node.isoformat()
    return node


# --- the rules of apply, on every backend ---------------------------------------------------


def test_round_trip_on_every_backend(session: Session) -> None:
    spec = parse_practice(PEDIATRIC)
    result = apply_practice(session=session, spec=spec, now=NOW)
    assert result.created
    assert export_practice(session=session, slug="maple-peds") == canonical(spec)
    exported = parse_practice(to_yaml(export_practice(session=session, slug="maple-peds")))
    assert apply_practice(session=session, spec=exported, now=NOW).changes == []
    # Stored where the rest of the service reads it: reminders, exceptions in local days.
    policy = policy_for(session=session, practice_id=result.practice.id, defaults=DEFAULT_REMINDERS)
    assert policy.offsets_minutes == (3 * 24 * 60, 24 * 60, 120)
    assert (policy.quiet_start.hour, policy.quiet_end.hour, policy.daily_cap) == (8, 20, 2)
    holiday = session.scalars(
        select(ScheduleException).where(
            ScheduleException.practice_id == result.practice.id,
            ScheduleException.reason == "Winter holiday",
        )
    ).one()
    assert holiday.start_at.isoformat() == "2026-12-24T06:00:00+00:00"  # midnight in Chicago
    assert holiday.end_at - holiday.start_at == timedelta(days=2)


def test_removing_a_provider_with_upcoming_appointments_is_refused(session: Session) -> None:
    spec = parse_practice(PEDIATRIC)
    practice = apply_practice(session=session, spec=spec, now=NOW).practice
    okafor = session.scalars(
        select(Provider).where(Provider.display_name == "Dr. Samuel Okafor")
    ).one()
    sick = session.scalars(
        select(VisitType).where(
            VisitType.practice_id == practice.id, VisitType.code == "sick-visit"
        )
    ).one()
    kid = factories.patient(session, practice=practice)
    booked = factories.appointment(
        session, patient=kid, provider=okafor, visit_type=sick, start=NOW + timedelta(days=3)
    )
    without = spec.model_copy(
        update={
            "providers": [p for p in spec.providers if p.name != "Dr. Samuel Okafor"],
            "visit_types": [
                v.model_copy(
                    update={"providers": [n for n in v.providers if n != okafor.display_name]}
                )
                for v in spec.visit_types
            ],
            "exceptions": [e for e in spec.exceptions if e.provider != okafor.display_name],
        }
    )
    with pytest.raises(ApplyRefusedError) as refused:
        apply_practice(session=session, spec=without, now=NOW)
    assert f"appointment #{booked.id} Tue, Dec 1 at" in refused.value.reasons[0]
    assert "1 upcoming appointment(s)" in refused.value.reasons[0]
    assert session.get(Provider, okafor.id) is not None

    booked.start_at = booked.end_at = NOW - timedelta(days=3)  # only past visits: keep it
    booked.end_at = booked.start_at + timedelta(minutes=15)
    with pytest.raises(ApplyRefusedError, match="active: false"):
        apply_practice(session=session, spec=without, now=NOW)
    booked.status = booked.status  # unchanged; a provider with no visits at all can go
    session.delete(booked)
    session.flush()
    result = apply_practice(session=session, spec=without, now=NOW)
    assert "- provider 'Dr. Samuel Okafor'" in result.changes
    assert (
        session.scalar(select(func.count()).select_from(Provider).where(Provider.id == okafor.id))
        == 0
    )


def test_an_sms_number_of_another_practice_is_refused(session: Session, practice: Practice) -> None:
    spec = parse_practice(edited(PEDIATRIC, '"+15555550299"', '"+15555550199"'))
    with pytest.raises(ApplyRefusedError, match=r"\+15555550199 already belongs"):
        apply_practice(session=session, spec=spec, now=NOW)
    assert session.scalar(select(Practice).where(Practice.slug == "maple-peds")) is None


def test_removing_sections_resets_them(session: Session) -> None:
    spec = parse_practice(PEDIATRIC)
    practice = apply_practice(session=session, spec=spec, now=NOW).practice
    bare = spec.model_copy(
        update={"reminders": None, "billing": None, "office_hours": None, "widget_origins": []}
    )
    changes = apply_practice(session=session, spec=bare, now=NOW).changes
    assert "- widget origin 'https://maple-peds.example'" in changes
    assert (
        session.scalar(select(ReminderSettings).where(ReminderSettings.practice_id == practice.id))
        is None
    )
    assert export_practice(session=session, slug="maple-peds") == canonical(bare)


def test_the_demo_file_describes_the_seeded_demo(session: Session, practice: Practice) -> None:
    assert export_practice(session=session, slug="riverside") == canonical(
        parse_practice(RIVERSIDE)
    )
    with pytest.raises(UnknownPracticeError):
        export_practice(session=session, slug="nobody")


def test_office_hours_in_the_file_decide_what_handoff_tells_patients(session: Session) -> None:
    spec = parse_practice(PEDIATRIC)
    practice = apply_practice(session=session, spec=spec, now=NOW).practice
    # Thursday 17:15 in Chicago: the providers stop at 17:00, the office answers until 17:30.
    thursday = datetime(2026, 12, 3, 23, 15, tzinfo=UTC)
    assert handoff.office_hours(session=session, practice=practice, now=thursday).open_now
    apply_practice(session=session, spec=spec.model_copy(update={"office_hours": None}), now=NOW)
    hours = handoff.office_hours(session=session, practice=practice, now=thursday)
    assert (hours.open_now, hours.opens_phrase(thursday)) == (False, "tomorrow at 8:00 AM")


def test_a_refused_apply_says_why_and_changes_nothing(database: Engine, tmp_path: Path) -> None:
    assert run("practice", "apply", str(write(tmp_path, RIVERSIDE, "demo.yaml"))).exit_code == 0
    taken = edited(PEDIATRIC, '"+15555550299"', '"+15555550199"')  # the demo's number
    result = run("practice", "apply", str(write(tmp_path, taken)))
    assert result.exit_code == 1
    assert "refused: SMS number +15555550199 already belongs to another practice" in result.output
    assert "maple-peds: nothing was changed" in result.output
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        assert db.scalar(select(Practice).where(Practice.slug == "maple-peds")) is None


def test_removing_a_visit_type_or_location_in_use_is_refused(session: Session) -> None:
    spec = parse_practice(PEDIATRIC)
    practice = apply_practice(session=session, spec=spec, now=NOW).practice
    raman = session.scalars(
        select(Provider).where(Provider.display_name == "Dr. Priya Raman")
    ).one()
    newborn = session.scalars(
        select(VisitType).where(VisitType.practice_id == practice.id, VisitType.code == "newborn")
    ).one()
    baby = factories.patient(session, practice=practice)
    visit = factories.appointment(
        session, patient=baby, provider=raman, visit_type=newborn, start=NOW + timedelta(days=2)
    )
    no_newborns = spec.model_copy(
        update={"visit_types": [v for v in spec.visit_types if v.code != "newborn"]}
    )
    with pytest.raises(ApplyRefusedError, match=f"'newborn' has 1 upcoming.*#{visit.id}"):
        apply_practice(session=session, spec=no_newborns, now=NOW)
    with pytest.raises(ApplyRefusedError, match="'newborn' has past appointments"):
        apply_practice(session=session, spec=no_newborns, now=NOW + timedelta(days=7))
    moved = spec.model_copy(
        update={
            "locations": [loc for loc in spec.locations if loc.name != "Maple Street Office"],
            "providers": [
                p.model_copy(update={"location": "Northside Office"}) for p in spec.providers
            ],
        }
    )
    with pytest.raises(ApplyRefusedError, match="location 'Maple Street Office' has appointments"):
        apply_practice(session=session, spec=moved, now=NOW)
