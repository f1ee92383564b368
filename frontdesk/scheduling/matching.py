"""What patients can choose, and which visit type or provider their own words mean."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.practices.models import Provider
from frontdesk.scheduling.models import VisitType


def active_visit_types(*, session: Session, practice_id: int) -> list[VisitType]:
    """The visit types patients can book, in a stable order."""
    return list(
        session.scalars(
            select(VisitType)
            .where(VisitType.practice_id == practice_id, VisitType.active.is_(True))
            .order_by(VisitType.id)
        )
    )


def match_visit_type(*, session: Session, practice_id: int, text: str) -> VisitType | None:
    """The visit type a patient means, by code, name (or a translated one) or keyword
    ("physical", "sick visit", "consulta por enfermedad").

    Terms match whole words only ("ill" is not found in "bill"); the longest term wins.
    """
    wanted = " ".join(re.sub(r"[^\w']+", " ", text.lower().replace("-", " ")).split())
    if not wanted:
        return None
    best: tuple[int, VisitType] | None = None
    for visit_type in active_visit_types(session=session, practice_id=practice_id):
        terms = [visit_type.code.replace("-", " "), visit_type.name.lower()]
        terms += [name.lower() for name in (visit_type.names or {}).values()]  # translations
        terms += [k.strip().lower() for k in visit_type.keywords.split(",") if k.strip()]
        for term in terms:
            if wanted == term:
                return visit_type
            if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", wanted) and (
                best is None or len(term) > best[0]
            ):
                best = (len(term), visit_type)
    return best[1] if best else None


def active_providers(*, session: Session, practice_id: int) -> list[Provider]:
    """Providers patients can choose, in a stable order."""
    return list(
        session.scalars(
            select(Provider)
            .where(Provider.practice_id == practice_id, Provider.active.is_(True))
            .order_by(Provider.id)
        )
    )


def match_provider(*, session: Session, practice_id: int, text: str) -> Provider | None:
    """The provider a patient names ("dr patel", "Patel"), or None."""
    words = {w.strip(".,!?").lower() for w in text.split()} - {"dr", "doctor", "with", "the"}
    for provider in active_providers(session=session, practice_id=practice_id):
        names = {w.strip(".,").lower() for w in provider.display_name.split()} - {"dr", "md"}
        if words & names:
            return provider
    return None
