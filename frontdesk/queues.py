"""How far behind the work queues are: patient turns, the SMS outbox, stored inbound texts,
the EHR outbox.

Read by readiness (`/readyz`: is anything wedged?) and by the metrics (`/metrics`: depth and
age). Counts and ages only, never a row's content. The figures are the deployment's, not one
process's: every replica reports the same database.

Two ages per queue. `oldest_age_seconds` is how long the oldest unfinished item has existed
(what a patient waiting for a text feels). `overdue_seconds` is how long the most overdue item
has been due without anyone picking it up: a provider outage does not grow it (each failed
attempt sets the next one in the future), a dead or stuck worker does — that is "wedged".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from frontdesk.conversations.models import PatientTurn, TurnState
from frontdesk.ehr.models import EhrOutboxEntry, OutboxStatus
from frontdesk.sms.models import InboundOutcome, InboundSms, OutboundSms, OutboundStatus


@dataclass(frozen=True)
class QueueState:
    """One queue's backlog."""

    name: str
    depth: int
    oldest_age_seconds: float
    overdue_seconds: float


def _age(now: datetime, oldest: datetime | None) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def _state(
    session: Session,
    name: str,
    *,
    now: datetime,
    waiting: ColumnElement[bool],
    created: InstrumentedAttribute[datetime],
    due: list[tuple[ColumnElement[bool], InstrumentedAttribute[datetime | None]]],
) -> QueueState:
    depth, oldest = session.execute(select(func.count(), func.min(created)).where(waiting)).one()
    overdue = 0.0
    for condition, due_at in due:
        since = session.scalar(select(func.min(due_at)).where(waiting, condition, due_at <= now))
        overdue = max(overdue, _age(now, since))
    return QueueState(name, int(depth), _age(now, oldest), overdue)


def queue_states(*, session: Session, now: datetime, ehr: bool) -> list[QueueState]:
    """The backlog of each queue at `now` (a few small indexed queries).

    `ehr`: whether an EHR is configured. Without one, the EHR outbox still records every
    appointment (for an EHR connected later) and nobody drains it: not a queue to watch.
    """
    unforwarded = InboundSms.processed_at.is_(None) & InboundSms.outcome.in_(
        (InboundOutcome.PENDING, InboundOutcome.IDENTITY)
    )
    turn_waiting = PatientTurn.state.in_((TurnState.QUEUED, TurnState.SENDING))
    states = [
        _state(
            session,
            "patient_turns",
            now=now,
            waiting=turn_waiting,
            created=PatientTurn.created_at,
            due=[
                (PatientTurn.state == TurnState.QUEUED, PatientTurn.next_attempt_at),
                # A lease that ran out and nobody took the turn again: the dispatcher is stuck.
                (PatientTurn.state == TurnState.SENDING, PatientTurn.lease_until),
            ],
        ),
        _state(
            session,
            "sms_outbox",
            now=now,
            waiting=OutboundSms.status.in_((OutboundStatus.PENDING, OutboundStatus.SENDING)),
            created=OutboundSms.created_at,
            due=[
                (OutboundSms.status == OutboundStatus.PENDING, OutboundSms.next_attempt_at),
                # A claim that expired and was never reconciled: stuck in `sending`.
                (OutboundSms.status == OutboundStatus.SENDING, OutboundSms.claimed_until),
            ],
        ),
        _state(
            session,
            "sms_inbound",
            now=now,
            waiting=unforwarded,
            created=InboundSms.received_at,
            due=[(unforwarded, InboundSms.received_at)],
        ),
    ]
    if ehr:
        states.append(
            _state(
                session,
                "ehr_outbox",
                now=now,
                waiting=EhrOutboxEntry.status.in_((OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT)),
                created=EhrOutboxEntry.updated_at,
                due=[
                    (EhrOutboxEntry.status == OutboxStatus.PENDING, EhrOutboxEntry.next_attempt_at)
                ],
            )
        )
    return states


def dead_letters(*, session: Session) -> dict[str, int]:
    """Items each outbox gave up on, waiting for staff (`dead`): never retried by themselves,
    so any count above zero is someone's text or chart write that did not happen."""
    return {
        "sms_outbox": int(
            session.scalar(select(func.count()).where(OutboundSms.status == OutboundStatus.DEAD))
            or 0
        ),
        "ehr_outbox": int(
            session.scalar(select(func.count()).where(EhrOutboxEntry.status == OutboxStatus.DEAD))
            or 0
        ),
    }


def wedged(states: list[QueueState], *, limit_seconds: float) -> list[str]:
    """Names of the queues whose most overdue item has waited longer than `limit_seconds`."""
    if limit_seconds <= 0:
        return []
    return [state.name for state in states if state.overdue_seconds > limit_seconds]
