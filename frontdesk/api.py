"""Public JSON API (`/api/`): practice information and open slots.

Handlers stay thin: parse, call a service, shape the response.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from frontdesk.conversations.service import get_practice
from frontdesk.practices.models import Practice
from frontdesk.runtime import Services
from frontdesk.scheduling.matching import active_providers, active_visit_types, match_visit_type
from frontdesk.scheduling.slots import find_open_slots
from frontdesk.scheduling.timeprefs import TimePreferenceError, parse_time_preference

router = APIRouter(prefix="/api", tags=["api"])


def db_session(request: Request) -> Iterator[Session]:
    """One unit of work per request, committed when the handler succeeds."""
    services: Services = request.app.state.services
    with services.unit_of_work() as session:
        yield session


DbSession = Annotated[Session, Depends(db_session)]


def _practice(session: Session, slug: str) -> Practice:
    practice = get_practice(session=session, slug=slug)
    if practice is None:
        raise HTTPException(status_code=404, detail=f"no practice {slug!r}")
    return practice


class VisitTypeOut(BaseModel):
    """A bookable visit type."""

    code: str
    name: str
    duration_minutes: int


class ProviderOut(BaseModel):
    """A bookable provider."""

    id: int
    name: str
    specialty: str | None


class PracticeOut(BaseModel):
    """What a booking front end needs to know about a practice."""

    slug: str
    name: str
    timezone: str
    visit_types: list[VisitTypeOut]
    providers: list[ProviderOut]


class SlotOut(BaseModel):
    """An open slot; `key` books it."""

    key: str
    start: datetime
    end: datetime
    local_start: str
    provider_id: int
    provider_name: str
    location_name: str


@router.get("/practices/{slug}")
def practice_info(slug: str, session: DbSession) -> PracticeOut:
    """A practice's public booking information."""
    practice = _practice(session, slug)
    return PracticeOut(
        slug=practice.slug,
        name=practice.name,
        timezone=practice.timezone,
        visit_types=[
            VisitTypeOut(code=v.code, name=v.name, duration_minutes=v.duration_minutes)
            for v in active_visit_types(session=session, practice_id=practice.id)
        ],
        providers=[
            ProviderOut(id=p.id, name=p.display_name, specialty=p.specialty)
            for p in active_providers(session=session, practice_id=practice.id)
        ],
    )


@router.get("/practices/{slug}/open-slots")
def open_slots(
    slug: str,
    request: Request,
    session: DbSession,
    visit_type: Annotated[str, Query(max_length=64)],
    when: Annotated[str, Query(max_length=200, description="e.g. 'next tue after 3'")] = "asap",
    provider_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 3,
) -> list[SlotOut]:
    """Open slots for a visit type, from a free-text time preference."""
    practice = _practice(session, slug)
    found = match_visit_type(session=session, practice_id=practice.id, text=visit_type)
    if found is None:
        raise HTTPException(status_code=422, detail=f"unknown visit type {visit_type!r}")
    services: Services = request.app.state.services
    now = services.clock()
    tz = ZoneInfo(practice.timezone)
    try:
        preference = parse_time_preference(when, now=now, tz=tz)
    except TimePreferenceError as exc:
        raise HTTPException(
            status_code=422, detail={"reason": exc.reason, "message": str(exc)}
        ) from exc
    slots = find_open_slots(
        session=session,
        practice=practice,
        visit_type=found,
        preference=preference,
        now=now,
        provider_id=provider_id,
        limit=limit,
    )
    return [
        SlotOut(
            key=s.key,
            start=s.start,
            end=s.end,
            local_start=s.start.astimezone(tz).isoformat(),
            provider_id=s.provider_id,
            provider_name=s.provider_name,
            location_name=s.location_name,
        )
        for s in slots
    ]
