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

from sqlalchemy import and_, case, func, or_, select
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
    status = Appointment.status
    ended = Appointment.end_at <= now
    outcome = case(
        (status == AppointmentStatus.NOSHOW, "no_show"),
        (
            and_(
                status == AppointmentStatus.CANCELLED,
                or_(
                    Appointment.cancelled_at.is_(None),
                    Appointment.cancelled_at < Appointment.start_at,
                ),
            ),
            "cancelled_ahead",
        ),
        (status == AppointmentStatus.CANCELLED, "other"),
        (and_(ended, status.in_([*ACTIVE_STATUSES, AppointmentStatus.FULFILLED])), "attended"),
        else_="pending",
    )
    # Grouped in the database: one row per patient and outcome, not one per visit.
    query = (
        select(Appointment.patient_id, outcome, func.count())
        .where(
            Appointment.practice_id == experiment.practice_id,
            Appointment.patient_id.is_not(None),
            Appointment.start_at >= _day_start(experiment.starts_on, zone),
        )
        .group_by(Appointment.patient_id, outcome)
    )
    if experiment.ends_on is not None:
        query = query.where(
            Appointment.start_at < _day_start(experiment.ends_on + timedelta(days=1), zone)
        )
    counts: dict[str, Counter[str]] = {arm.name: Counter() for arm in arms_of(experiment)}
    arm_of: dict[int, str] = {}  # one HMAC per patient, however many visits they have
    for patient_id, kind, visits in session.execute(query):
        assert patient_id is not None  # the query keeps only visits with a patient
        if patient_id not in arm_of:
            arm_of[patient_id] = assign(experiment, patient_id).name
        counts[arm_of[patient_id]][kind] += visits
    arms = sorted(arms_of(experiment), key=lambda arm: not arm.control)
    control = counts[arms[0].name]
    return ExperimentOutcome(
        experiment,
        [_arm_outcome(arm, counts[arm.name], None if arm.control else control) for arm in arms],
    )


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
