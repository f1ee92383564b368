"""Answers to practice questions from the practice's own documents."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ContextAction
from actions.language import language_of
from frontdesk.conversations import service as conversations
from frontdesk.insights.models import InsightKind
from frontdesk.insights.recording import record_bot_act
from frontdesk.language import Language
from frontdesk.practices.models import Practice


def practice_slug(session: Session, sender_id: str) -> str | None:
    """The slug of the practice a conversation belongs to."""
    conversation = conversations.get_conversation(session=session, public_id=sender_id)
    if conversation is None:
        return None
    return session.get_one(Practice, conversation.practice_id).slug


class ActionAnswerQuestion(ContextAction):
    """Answers from the knowledge base with its source, or offers a person when unsure."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Answer the latest message (already free of PHI: Rasa only sees tokens)."""
        question = tracker.latest_message.get("text") or ""
        slug = await self.context.run(lambda s: practice_slug(s, tracker.sender_id))
        if slug is None or not question.strip():
            dispatcher.utter_message(response="utter_kb_not_sure")
            return [SlotSet("escalation_reason", "low_confidence_answer")]
        language = language_of(tracker)
        # Only documents in the patient's language answer: never an English extract in Spanish.
        result = await self.context.answer(
            question, practice_slug=slug, language=Language(language)
        )
        kind = InsightKind.KB_ANSWERED if result.confident else InsightKind.KB_ABSTAINED
        now = self.context.clock()
        await self.context.run(
            lambda s: record_bot_act(session=s, public_id=tracker.sender_id, kind=kind, at=now)
        )
        if not result.confident:
            if language == "en":
                dispatcher.utter_message(text=result.answer, buttons=_offer_person())
            else:  # the knowledge base words its "not sure" in English: say ours instead
                dispatcher.utter_message(response="utter_kb_not_sure")
            return [SlotSet("escalation_reason", "low_confidence_answer")]
        if not result.parts:
            source = result.sources[0]
            dispatcher.utter_message(
                response="utter_kb_answer",
                answer=result.answer,
                source=source.source,
                section=source.section,
            )
            return []
        # A question about two topics: one message per topic, each citing its own passage.
        for part in result.parts:
            dispatcher.utter_message(
                response="utter_kb_answer",
                answer=part.answer,
                source=part.source.source,
                section=part.source.section,
            )
        if not result.part_not_sure:
            return []
        dispatcher.utter_message(text=result.part_not_sure, buttons=_offer_person(language))
        return [SlotSet("escalation_reason", "low_confidence_answer")]


def _offer_person(language: str = "en") -> list[dict[str, str]]:
    if language == "es":
        return [
            {"title": "Hablar con una persona", "payload": "/request_human"},
            {"title": "No, gracias", "payload": "/deny"},
        ]
    return [
        {"title": "Talk to a person", "payload": "/request_human"},
        {"title": "No thanks", "payload": "/deny"},
    ]
