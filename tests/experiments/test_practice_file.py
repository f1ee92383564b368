"""`reminder_experiments` in the practice file: validated, applied, exported, listed."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, select

from frontdesk.db import make_session_factory, session_scope
from frontdesk.experiments.models import ReminderExperiment
from frontdesk.practices.config.canonical import to_yaml
from frontdesk.practices.config.loading import parse_practice
from tests.conftest import AT_NOW
from tests.support.commands import run

PEDIATRIC = (
    resources.files("frontdesk.practices").joinpath("examples/pediatric.yaml").read_text("utf-8")
)
EXPERIMENT = """\
reminder_experiments:
  - key: wording-2027
    name: Soonest-slot wording
    starts_on: 2027-01-04
    ends_on: 2027-03-31
    arms:
      - name: standard
        control: true
      - name: held-for-you
        weight: 2
        wording: "{practice}: we are holding {when} for you. Can't come? Tell us."
  - key: cadence-2027
    name: One extra reminder
    starts_on: 2027-04-01
    arms:
      - name: standard
        control: true
      - name: three-days
        offsets: [3d, 2h]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "practice.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_with_experiments_validates_applies_and_round_trips(
    database: Engine, tmp_path: Path
) -> None:
    text = PEDIATRIC + EXPERIMENT
    assert run("practice", "validate", str(write(tmp_path, text))).exit_code == 0
    first = run("practice", "apply", str(write(tmp_path, text)))
    assert first.exit_code == 0, first.output
    assert "+ reminder experiment 'wording-2027'" in first.output
    exported = run("practice", "export", "maple-peds")
    assert exported.output == to_yaml(parse_practice(text))
    assert "held-for-you" in exported.output and "secret" not in exported.output
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        secrets = dict(db.execute(select(ReminderExperiment.key, ReminderExperiment.secret)).all())
    assert len(set(secrets.values())) == 2, "each experiment draws its own secret"

    renamed = text.replace("One extra reminder", "An extra reminder")
    again = run("practice", "apply", str(write(tmp_path, renamed)))
    assert "~ reminder experiment 'cadence-2027': name" in again.output
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        kept = dict(db.execute(select(ReminderExperiment.key, ReminderExperiment.secret)).all())
    assert kept == secrets, "editing an experiment keeps its patients in their arms"

    listed = run("experiments", "list", "--practice", "maple-peds", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["key"]: row for row in json.loads(listed.output)}
    assert rows["wording-2027"]["arms"] == [
        {"name": "standard", "weight": 1, "control": True},
        {"name": "held-for-you", "weight": 2, "control": False},
    ]
    assert rows["cadence-2027"]["ends_on"] is None
    text_list = run("experiments", "list", "--practice", "maple-peds")
    assert "wording-2027: Soonest-slot wording (2027-01-04 to 2027-03-31)" in text_list.output
    report = run("experiments", "report", "--practice", "maple-peds", "wording-2027", "--json")
    assert report.exit_code == 0, report.output
    [only] = json.loads(report.output)
    assert [row[0] for row in only["rows"]] == ["standard (control)", "held-for-you"]
    assert only["verdicts"] == ["held-for-you vs standard: no finished visits in both arms yet."]
    as_text = run("experiments", "report", "--practice", "maple-peds")
    assert as_text.exit_code == 0, as_text.output
    assert "Reminder experiment: An extra reminder" in as_text.output
    assert "  Arm: standard (control) | Visits: 0 |" in as_text.output
    missing = run("experiments", "report", "--practice", "maple-peds", "nope")
    assert missing.exit_code == 1 and "no experiment 'nope'" in missing.output


def _problems(tmp_path: Path, section: str) -> str:
    result = run("practice", "validate", str(write(tmp_path, PEDIATRIC + section)))
    assert result.exit_code == 1, result.output
    return str(result.output)


def test_broken_experiments_are_refused_with_the_reason(tmp_path: Path) -> None:
    two_controls = EXPERIMENT.replace(
        "name: held-for-you\n", "name: held-for-you\n        control: true\n"
    )
    assert "the control arm keeps the standard reminders" in _problems(tmp_path, two_controls)
    no_control = EXPERIMENT.replace(
        "      - name: standard\n        control: true\n      - name: held",
        '      - name: plain\n        wording: "Visit {when}."\n      - name: held',
    )
    assert "exactly one arm must be the control" in _problems(tmp_path, no_control)
    typo = EXPERIMENT.replace("{when} for you", "{wen} for you")
    assert "unknown placeholder {wen}" in _problems(tmp_path, typo)
    overlapping = EXPERIMENT.replace("starts_on: 2027-04-01", "starts_on: 2027-03-01")
    assert "overlaps experiment 'wording-2027'" in _problems(tmp_path, overlapping)
    bare = EXPERIMENT.replace("        offsets: [3d, 2h]\n", "")
    assert "needs wording or offsets" in _problems(tmp_path, bare)
