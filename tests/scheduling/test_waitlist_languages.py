"""Waitlist offers are outreach: they follow the language the patient is remembered by."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from frontdesk.models import Practice
from frontdesk.scheduling.waitlist import accept_waitlist_offer
from tests.conftest import NOW
from tests.scheduling.test_waitlist import _cancel_tuesday_3pm, _join, _messages, _new_patient


def test_offers_and_gone_notices_are_in_each_patients_language(
    session: Session, practice: Practice
) -> None:
    spanish, english, taker = (_new_patient(session, practice, n) for n in range(3))
    spanish.preferred_language = "es"
    english.preferred_language = "en"
    for patient in (spanish, english, taker):
        _join(session, practice, patient)
    offers = _cancel_tuesday_3pm(session, practice)
    offer_es = _messages(session, spanish)[-1]
    assert (offer_es.text or "").startswith("Buenas noticias: se abrió un espacio el martes 1 de")
    assert "a las 3:00 p. m. con Dr. Amara Patel" in (offer_es.text or "")
    titles = [b["title"] for b in (offer_es.payload or {})["buttons"]]
    assert titles == ["Sí, lo quiero", "No, gracias"]
    offer_en = _messages(session, english)[-1]
    assert "Good news: an opening came up on Tue, Dec 1 at 3:00 PM" in (offer_en.text or "")
    [taken] = [o for o in offers if o.entry.patient_id == taker.id]
    accept_waitlist_offer(
        session=session,
        offer_token=taken.token,
        patient_id=taker.id,
        now=NOW + timedelta(minutes=5),
    )
    assert (_messages(session, spanish)[-1].text or "").startswith("Lo sentimos, el espacio del")
    assert "just been taken" in (_messages(session, english)[-1].text or "")
