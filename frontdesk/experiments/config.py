"""The practice file's `reminder_experiments` section, to and from the database.

Experiments are keyed by `key`. A new one gets its own random assignment secret; changing an
existing one keeps the secret, so patients stay in their arms (changing arm names or weights
moves some of them: the docs say to start a new key instead).
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.experiments.assignment import Arm, arms_of
from frontdesk.experiments.models import ReminderExperiment
from frontdesk.practices.config.schema import (
    ExperimentArmSpec,
    ReminderExperimentSpec,
    duration_minutes,
    format_duration,
)


def export_experiments(*, session: Session, practice_id: int) -> list[ReminderExperimentSpec]:
    """The practice's experiments as practice-file sections."""
    return [
        ReminderExperimentSpec(
            key=row.key,
            name=row.name,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            arms=[
                ExperimentArmSpec(
                    name=arm.name,
                    weight=arm.weight,
                    control=arm.control,
                    wording=arm.wording,
                    offsets=[format_duration(m) for m in arm.offsets_minutes]
                    if arm.offsets_minutes is not None
                    else None,
                )
                for arm in arms_of(row)
            ],
        )
        for row in _rows(session, practice_id)
    ]


def apply_experiments(
    *, session: Session, practice_id: int, specs: list[ReminderExperimentSpec]
) -> None:
    """Create, update or remove the practice's experiments to match `specs`."""
    existing = {row.key: row for row in _rows(session, practice_id)}
    for spec in specs:
        row = existing.pop(spec.key, None)
        if row is None:
            row = ReminderExperiment(
                practice_id=practice_id, key=spec.key, secret=secrets.token_hex(32)
            )
            session.add(row)
        row.name = spec.name
        row.starts_on = spec.starts_on
        row.ends_on = spec.ends_on
        row.arms = [
            Arm(
                name=arm.name,
                weight=arm.weight,
                control=arm.control,
                wording=arm.wording,
                offsets_minutes=tuple(duration_minutes(o) for o in arm.offsets)
                if arm.offsets is not None
                else None,
            ).to_json()
            for arm in spec.arms
        ]
    for row in existing.values():
        session.delete(row)


def _rows(session: Session, practice_id: int) -> list[ReminderExperiment]:
    return list(
        session.scalars(
            select(ReminderExperiment)
            .where(ReminderExperiment.practice_id == practice_id)
            .order_by(ReminderExperiment.key)
        )
    )
