"""Telling waitlisted patients about offers: the words, the buttons, and how they are delivered.

Offers reach patients through a `WaitlistNotifier`; the default, `ConversationNotifier`,
stores a bot message on the patient's latest conversation, from where the channel delivers
it (the widget on reconnect; SMS through the SMS deliverer that `record_outgoing_message`
calls, see `frontdesk/conversations/outgoing.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.conversations.models import Conversation, Role
from frontdesk.conversations.service import record_outgoing_message, reply_language
from frontdesk.language import Language
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import WaitlistEntry, WaitlistOffer

logger = logging.getLogger(__name__)

# The bot's intents for the offer's buttons (`bot/`); the payload carries the offer token.
ACCEPT_INTENT = "accept_waitlist_offer"
DECLINE_INTENT = "decline_waitlist_offer"


class WaitlistNotifier(Protocol):
    """Tells a waitlisted patient about an offer, and that it is gone."""

    def offer_made(self, *, session: Session, offer: WaitlistOffer) -> None:
        """Send the offer to the patient."""

    def offer_gone(self, *, session: Session, offer: WaitlistOffer) -> None:
        """Tell the patient the offered time was taken by someone else."""


@dataclass(frozen=True)
class OfferText:
    """Patient-facing words for an offer (no visit reason: SMS content stays minimal)."""

    text: str
    buttons: list[dict[str, str]]


def offer_message(
    *, session: Session, offer: WaitlistOffer, language: Language = Language.EN
) -> OfferText:
    """The message that makes an offer, with buttons carrying the offer token."""
    practice = session.get_one(Practice, offer.practice_id)
    tz = ZoneInfo(practice.timezone)
    provider = session.get_one(Provider, offer.provider_id)
    minutes = max(1, round((offer.expires_at - offer.created_at).total_seconds() / 60))
    text = texts.text(
        "waitlist.offer",
        language,
        when=texts.moment(offer.start_at, tz, language),
        provider=provider.display_name,
        minutes=minutes,
    )
    token = f'{{"offer_token":"{offer.token}"}}'
    return OfferText(
        text=text,
        buttons=[
            {
                "title": texts.text("waitlist.accept", language),
                "payload": f"/{ACCEPT_INTENT}{token}",
            },
            {
                "title": texts.text("waitlist.decline", language),
                "payload": f"/{DECLINE_INTENT}{token}",
            },
        ],
    )


def offer_language(
    *, session: Session, offer: WaitlistOffer, conversation: Conversation
) -> Language:
    """Outreach follows the language the patient is remembered by, else the conversation's."""
    entry = session.get_one(WaitlistEntry, offer.entry_id)
    patient = session.get(Patient, entry.patient_id)
    if patient is not None and patient.preferred_language:
        return texts.remembered_language(patient.preferred_language)
    return reply_language(session=session, conversation=conversation)


class ConversationNotifier:
    """Stores offers as bot messages on the patient's most recent conversation.

    Delivery is the channel's business: the web chat shows stored messages, and the SMS
    channel's deliverer queues a text for SMS conversations. A patient with no
    conversation yet is skipped (logged by offer id only); their offer simply expires.
    """

    def _conversation(self, session: Session, offer: WaitlistOffer) -> Conversation | None:
        entry = session.get_one(WaitlistEntry, offer.entry_id)
        return session.scalar(
            select(Conversation)
            .where(
                Conversation.practice_id == offer.practice_id,
                Conversation.patient_id == entry.patient_id,
            )
            .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
            .limit(1)
        )

    def offer_made(self, *, session: Session, offer: WaitlistOffer) -> None:
        """Store the offer message, with accept/decline buttons."""
        conversation = self._conversation(session, offer)
        if conversation is None:
            logger.info("waitlist offer %s: patient has no conversation to reach", offer.id)
            return
        language = offer_language(session=session, offer=offer, conversation=conversation)
        message = offer_message(session=session, offer=offer, language=language)
        record_outgoing_message(
            session=session,
            conversation=conversation,
            role=Role.BOT,
            text=message.text,
            buttons=message.buttons,
            custom={
                "type": "waitlist_offer",
                "offer_token": offer.token,
                "expires_at": offer.expires_at.isoformat(),  # past it, the text is not sent
            },
        )

    def offer_gone(self, *, session: Session, offer: WaitlistOffer) -> None:
        """Store a short "it has been taken" message."""
        conversation = self._conversation(session, offer)
        if conversation is None:
            return
        practice = session.get_one(Practice, offer.practice_id)
        language = offer_language(session=session, offer=offer, conversation=conversation)
        record_outgoing_message(
            session=session,
            conversation=conversation,
            role=Role.BOT,
            text=texts.text(
                "waitlist.gone",
                language,
                when=texts.moment(offer.start_at, ZoneInfo(practice.timezone), language),
            ),
            custom={"type": "waitlist_offer_gone", "offer_token": offer.token},
        )
