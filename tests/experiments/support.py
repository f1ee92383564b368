"""Setting up an experiment for the tests, with patients placed in the arms a test needs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.experiments.assignment import assign
from frontdesk.experiments.config import apply_experiments
from frontdesk.experiments.models import ReminderExperiment
from frontdesk.practices.config.schema import ExperimentArmSpec, ReminderExperimentSpec

WORDING = "{practice}: we are holding {when} for you. Can't come? Tell us so we can offer it."


def wording_spec(starts_on: date, **arm: object) -> ReminderExperimentSpec:
    """A two-arm experiment: the standard reminder against `arm` (the held-for-you wording)."""
    treatment = {"name": "held-for-you", "wording": WORDING, **arm}
    return ReminderExperimentSpec(
        key="wording",
        name="Held-for-you wording",
        starts_on=starts_on,
        arms=[
            ExperimentArmSpec(name="standard", control=True),
            ExperimentArmSpec.model_validate(treatment),
        ],
    )


def set_up(
    session: Session,
    *,
    practice_id: int,
    spec: ReminderExperimentSpec,
    arms: Sequence[tuple[int, str]],
) -> ReminderExperiment:
    """Apply `spec` as the practice file would, then choose a secret placing each (patient, arm).

    Assignment is an HMAC, so a test cannot pick arms directly; it tries secrets in a fixed
    order until every listed patient falls where the test wants them.
    """
    apply_experiments(session=session, practice_id=practice_id, specs=[spec])
    session.flush()
    row = session.scalars(
        select(ReminderExperiment).where(
            ReminderExperiment.practice_id == practice_id, ReminderExperiment.key == spec.key
        )
    ).one()
    for attempt in range(10_000):
        row.secret = hashlib.sha256(f"test-secret-{attempt}".encode()).hexdigest()
        if all(assign(row, patient_id).name == arm for patient_id, arm in arms):
            session.flush()
            return row
    raise AssertionError("no secret places these patients")
