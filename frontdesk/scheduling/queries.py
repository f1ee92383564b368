"""The slot search's hot reads: held blocks and schedule exceptions, as plain numbers.

A busy week is tens of thousands of blocks; fetching and converting them row by row in Python
is what made the search slow (bench/next_slots.py). So each read is written once per dialect
and the database does the conversion: blocks come back as block numbers packed into one row
per provider, exceptions as seconds since `EPOCH`. Another database gets a portable, slower
query with the same result.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from frontdesk.db import UTCDateTime
from frontdesk.scheduling.blocks import STEP, block_index, seconds_since_epoch
from frontdesk.scheduling.models import AppointmentBlock, ScheduleException

# Each held block as its block number (5-minute steps since `EPOCH`), packed per provider.
# SQLite keeps timestamps as text, and julianday() is its cheapest way to read them
# (2451544.5 is 2000-01-01T00:00Z).
_BUSY_SQL = {
    "sqlite": """
        SELECT provider_id,
               group_concat(CAST(round((julianday(block_start) - 2451544.5) * 288) AS INTEGER))
        FROM appointment_blocks
        WHERE provider_id IN :provider_ids AND block_start >= :start AND block_start < :end
              AND appointment_id != :ignore
        GROUP BY provider_id""",
    "postgresql": """
        SELECT provider_id,
               string_agg(CAST((CAST(EXTRACT(EPOCH FROM block_start) AS BIGINT) - 946684800)
                               / 300 AS TEXT), ',')
        FROM appointment_blocks
        WHERE provider_id IN :provider_ids AND block_start >= :start AND block_start < :end
              AND appointment_id != :ignore
        GROUP BY provider_id""",
}
_BUSY_STATEMENTS = {
    dialect: text(sql).bindparams(
        bindparam("provider_ids", expanding=True),
        bindparam("start", type_=UTCDateTime()),
        bindparam("end", type_=UTCDateTime()),
    )
    for dialect, sql in _BUSY_SQL.items()
}


def busy_maps(
    session: Session,
    *,
    provider_ids: list[int],
    start: datetime,
    end: datetime,
    base: int,
    size: int,
    ignore_appointment_id: int | None = None,
) -> dict[int, bytearray]:
    """Per provider, one byte per block from block number `base`: 1 where the block is held."""
    maps: dict[int, bytearray] = {}
    statement = _BUSY_STATEMENTS.get(session.get_bind().dialect.name)
    if statement is None:  # another database: portable, slower
        query = select(AppointmentBlock.provider_id, AppointmentBlock.block_start).where(
            AppointmentBlock.provider_id.in_(provider_ids),
            AppointmentBlock.block_start >= start - STEP,
            AppointmentBlock.block_start < end,
            AppointmentBlock.appointment_id != (ignore_appointment_id or 0),
        )
        for pid, block_start in session.execute(query):
            index = block_index(block_start) - base
            if 0 <= index < size:
                maps.setdefault(pid, bytearray(size))[index] = 1
        return maps
    rows = session.connection().execute(
        statement,
        {
            "provider_ids": provider_ids,
            "start": start - STEP,
            "end": end,
            "ignore": ignore_appointment_id or 0,
        },
    )
    for pid, packed in rows:
        taken = maps[pid] = bytearray(size)
        for block in map(int, packed.split(",")):
            index = block - base
            if 0 <= index < size:
                taken[index] = 1
    return maps


_EXCEPTIONS_SQL = {
    "sqlite": """
        SELECT provider_id,
               CAST(round((julianday(start_at) - 2451544.5) * 86400) AS INTEGER),
               CAST(round((julianday(end_at) - 2451544.5) * 86400) AS INTEGER)
        FROM schedule_exceptions
        WHERE practice_id = :practice_id AND start_at < :end AND end_at > :start""",
    "postgresql": """
        SELECT provider_id,
               CAST(EXTRACT(EPOCH FROM start_at) AS BIGINT) - 946684800,
               CAST(EXTRACT(EPOCH FROM end_at) AS BIGINT) - 946684800
        FROM schedule_exceptions
        WHERE practice_id = :practice_id AND start_at < :end AND end_at > :start""",
}
_EXCEPTIONS_STATEMENTS = {
    dialect: text(sql).bindparams(
        bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    )
    for dialect, sql in _EXCEPTIONS_SQL.items()
}


def exception_ranges(
    session: Session,
    *,
    practice_id: int,
    provider_ids: Iterable[int],
    start: datetime,
    end: datetime,
) -> dict[int | None, list[tuple[int, int]]]:
    """Exception ranges (seconds since `EPOCH`) per provider (key None: the whole practice)
    overlapping [start, end). Read as plain numbers, like the blocks (see `busy_maps`)."""
    wanted = set(provider_ids)
    statement = _EXCEPTIONS_STATEMENTS.get(session.get_bind().dialect.name)
    rows: Iterable[tuple[int | None, int, int]]
    if statement is None:  # another database: portable, slower
        rows = [
            (pid, seconds_since_epoch(o_start), seconds_since_epoch(o_end))
            for pid, o_start, o_end in session.execute(
                select(
                    ScheduleException.provider_id,
                    ScheduleException.start_at,
                    ScheduleException.end_at,
                ).where(
                    ScheduleException.practice_id == practice_id,
                    ScheduleException.start_at < end,
                    ScheduleException.end_at > start,
                )
            )
        ]
    else:
        rows = session.connection().execute(
            statement, {"practice_id": practice_id, "start": start, "end": end}
        )
    out: dict[int | None, list[tuple[int, int]]] = {}
    for pid, o_start, o_end in rows:
        if pid is None or pid in wanted:
            out.setdefault(pid, []).append((o_start, o_end))
    return out
