"""The fixed UTC grid provider time is held on, and the block rows that hold it.

Every change of provider time claims or frees `AppointmentBlock` rows, one per
`BLOCK_MINUTES` of the grid; the unique (provider, block) constraint is what finally refuses
a double booking, so the Python checks elsewhere are for good answers, not for safety.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from frontdesk.scheduling.models import BLOCK_MINUTES, Appointment, AppointmentBlock
from frontdesk.scheduling.rules import BookingRules

# Block numbers and the slot search's whole seconds both count from here.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=BLOCK_MINUTES)
STEP_SECONDS = BLOCK_MINUTES * 60


def seconds_since_epoch(moment: datetime) -> int:
    """Whole seconds from `EPOCH` to an aware moment."""
    return int((moment - EPOCH).total_seconds())


def block_index(moment: datetime) -> int:
    """The number of the grid block a moment falls in."""
    return seconds_since_epoch(moment) // STEP_SECONDS


def _block_range(start: datetime, end: datetime) -> range:
    """Indexes of the grid blocks [start, end) touches (see `grid_blocks`)."""
    first = block_index(start)
    last = -(-seconds_since_epoch(end) // STEP_SECONDS)  # ceiling
    return range(first, last)


def grid_blocks(start: datetime, end: datetime) -> list[datetime]:
    """The grid blocks [start, end) touches, on a fixed UTC grid of `BLOCK_MINUTES`.

    Rounding outwards to one grid means two overlapping visits always share a block, even
    if one starts at an odd minute (hours from 9:07, an appointment imported from an EHR).
    """
    return [EPOCH + i * STEP for i in _block_range(start, end)]


def block_rows(
    appointment: Appointment, start: datetime, end: datetime, rules: BookingRules
) -> dict[datetime, AppointmentBlock]:
    """The block rows a visit [start, end) holds, buffers included, keyed by block start."""
    return {
        block: AppointmentBlock(
            practice_id=appointment.practice_id,
            provider_id=appointment.provider_id,
            block_start=block,
            appointment_id=appointment.id,
        )
        for block in grid_blocks(start - rules.buffer_before, end + rules.buffer_after)
    }


def free_blocks(session: Session, appointment: Appointment) -> None:
    """Release every block the appointment holds."""
    session.execute(
        delete(AppointmentBlock).where(AppointmentBlock.appointment_id == appointment.id)
    )
