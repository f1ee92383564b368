"""What happened to each arm's visits: attended, no-show, or cancelled ahead of time.

The outcome is attendance, not replies: a visit counts once it has ended (a no-show from the
EHR's status or a staff marking; any other visit that ended still booked, confirmed or
fulfilled was attended) or was cancelled before it started. Every visit of a patient in the
experiment's days counts in the patient's arm, whether or not a reminder reached them
(intention to treat: a reminder skipped for quiet hours or an opt-out is part of the arm).
Visits still ahead are counted as pending and left out of the rates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.experiments.assignment import Arm, arms_of, assign
from frontdesk.experiments.models import ReminderExperiment
from frontdesk.experiments.stats import Interval, newcombe_difference, wilson
from frontdesk.practices.models import Practice
from frontdesk.scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentStatus


@dataclass(frozen=True)
class ArmOutcome:
    """One arm's counts, its rates with Wilson intervals and its difference from control."""

    arm: Arm
    visits: int  # finished or cancelled ahead: the denominator of the cancellation rate
    attended: int
    no_shows: int
    cancelled_ahead: int
    pending: int
    no_show_rate: Interval | None  # no-shows / (attended + no-shows)
    cancellation_rate: Interval | None  # cancelled ahead / visits
    no_show_difference: Interval | None  # this arm − control (None for the control)
    cancellation_difference: Interval | None


@dataclass(frozen=True)
class ExperimentOutcome:
    """An experiment and its arms, control first."""

    experiment: ReminderExperiment
    arms: list[ArmOutcome]

    def control(self) -> ArmOutcome:
        """The arm the others are compared with."""
        return next(a for a in self.arms if a.arm.control)


def _day_start(day: object, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)  # type: ignore[arg-type]


def measure(
    *, session: Session, experiment: ReminderExperiment, now: datetime
) -> ExperimentOutcome:
    """Count the experiment's visits per arm and compare each arm with the control."""
    zone = ZoneInfo(session.get_one(Practice, experiment.practice_id).timezone)
    query = select(
        Appointment.patient_id,
        Appointment.status,
        Appointment.start_at,
        Appointment.end_at,
        Appointment.cancelled_at,
    ).where(
        Appointment.practice_id == experiment.practice_id,
        Appointment.patient_id.is_not(None),
        Appointment.start_at >= _day_start(experiment.starts_on, zone),
    )
    if experiment.ends_on is not None:
        query = query.where(
            Appointment.start_at < _day_start(experiment.ends_on + timedelta(days=1), zone)
        )
    counts: dict[str, Counter[str]] = {arm.name: Counter() for arm in arms_of(experiment)}
    arm_of: dict[int, str] = {}  # one HMAC per patient, however many visits they have
    for patient_id, status, start, end, cancelled_at in session.execute(query):
        assert patient_id is not None  # the query keeps only visits with a patient
        if patient_id not in arm_of:
            arm_of[patient_id] = assign(experiment, patient_id).name
        counts[arm_of[patient_id]][_outcome(status, start, end, cancelled_at, now)] += 1
    arms = sorted(arms_of(experiment), key=lambda arm: not arm.control)
    control = counts[arms[0].name]
    return ExperimentOutcome(
        experiment,
        [_arm_outcome(arm, counts[arm.name], None if arm.control else control) for arm in arms],
    )


def _outcome(
    status: AppointmentStatus,
    start: datetime,
    end: datetime,
    cancelled_at: datetime | None,
    now: datetime,
) -> str:
    if status is AppointmentStatus.NOSHOW:
        return "no_show"
    if status is AppointmentStatus.CANCELLED:
        return "cancelled_ahead" if cancelled_at is None or cancelled_at < start else "other"
    if end <= now and (status in ACTIVE_STATUSES or status is AppointmentStatus.FULFILLED):
        return "attended"
    return "pending"


def _arm_outcome(arm: Arm, counts: Counter[str], control: Counter[str] | None) -> ArmOutcome:
    came_or_not = counts["attended"] + counts["no_show"]
    visits = came_or_not + counts["cancelled_ahead"]
    no_show_diff = cancel_diff = None
    if control is not None:
        no_show_diff = newcombe_difference(
            counts["no_show"],
            came_or_not,
            control["no_show"],
            control["attended"] + control["no_show"],
        )
        cancel_diff = newcombe_difference(
            counts["cancelled_ahead"],
            visits,
            control["cancelled_ahead"],
            control["attended"] + control["no_show"] + control["cancelled_ahead"],
        )
    return ArmOutcome(
        arm=arm,
        visits=visits,
        attended=counts["attended"],
        no_shows=counts["no_show"],
        cancelled_ahead=counts["cancelled_ahead"],
        pending=counts["pending"],
        no_show_rate=wilson(counts["no_show"], came_or_not),
        cancellation_rate=wilson(counts["cancelled_ahead"], visits),
        no_show_difference=no_show_diff,
        cancellation_difference=cancel_diff,
    )


def experiments_of(*, session: Session, practice_id: int) -> list[ReminderExperiment]:
    """The practice's experiments, newest first."""
    return list(
        session.scalars(
            select(ReminderExperiment)
            .where(ReminderExperiment.practice_id == practice_id)
            .order_by(ReminderExperiment.starts_on.desc(), ReminderExperiment.key)
        )
    )
