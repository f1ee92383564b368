"""The arm each reminder follows, for the planner and the sender (one query per batch)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.experiments.assignment import Arm, arms_of, assign, covers
from frontdesk.experiments.models import ReminderExperiment
from frontdesk.practices.models import Practice


class ArmLookup:
    """The practices' experiments, loaded once; `arm_for` answers per appointment."""

    def __init__(self, *, session: Session, practices: Iterable[Practice]) -> None:
        """Load the experiments of `practices`."""
        self._zones = {p.id: ZoneInfo(p.timezone) for p in practices}
        self._experiments: dict[int, list[ReminderExperiment]] = {pid: [] for pid in self._zones}
        if self._zones:
            for experiment in session.scalars(
                select(ReminderExperiment)
                .where(ReminderExperiment.practice_id.in_(self._zones))
                .order_by(ReminderExperiment.starts_on)
            ):
                self._experiments[experiment.practice_id].append(experiment)

    def arm_for(self, *, practice_id: int, patient_id: int | None, start: datetime) -> Arm | None:
        """The arm of the experiment covering this visit's day, or None (no experiment)."""
        zone = self._zones.get(practice_id)
        if zone is None or patient_id is None:
            return None
        day = start.astimezone(zone).date()
        for experiment in self._experiments[practice_id]:
            if covers(experiment, day):
                return assign(experiment, patient_id)
        return None

    def longest_offset(self) -> int:
        """The longest offset any arm plans (the planner looks that far ahead)."""
        return max(
            (
                max(arm.offsets_minutes, default=0)
                for experiments in self._experiments.values()
                for experiment in experiments
                for arm in arms_of(experiment)
                if arm.offsets_minutes
            ),
            default=0,
        )
