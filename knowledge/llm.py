"""Optional LLM rephrasing through langchain: never required, never the source of facts.

The model sees only the (PHI-scrubbed) question and the retrieved passages, is told to use
nothing else and to refuse medical advice, and any failure falls back to the extractive
answer. Configure with FRONTDESK_KB_LLM_MODEL="provider:model" when the `langchain` package
and the provider's integration are installed; the default install has neither.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from knowledge.ingest import Passage

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from frontdesk.settings import Settings
    from knowledge.answering import Rephraser

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You answer a patient's question for a medical practice's front desk. Use ONLY the "
    "practice documents given. Rephrase them in one to three short, friendly sentences. If the "
    "documents do not answer the question, reply exactly NOT_IN_DOCUMENTS. Never give medical "
    "advice, never discuss symptoms, medicines, doses or test results, and never invent "
    "prices, times or policies."
)
REFUSAL = "NOT_IN_DOCUMENTS"


class LangchainRephraser:
    """Rephrases retrieved passages with any langchain chat model."""

    def __init__(self, model: BaseChatModel) -> None:
        """Wrap a chat model (injected, so tests pass a fake one)."""
        self.model = model

    def rephrase(self, *, question: str, passages: list[Passage]) -> str:
        """An answer using only `passages`; "" when the model declines."""
        from langchain_core.messages import HumanMessage, SystemMessage  # only with a model

        documents = "\n\n".join(f"[{p.source} - {p.section}]\n{p.text}" for p in passages)
        reply = self.model.invoke(
            [
                SystemMessage(content=SYSTEM_PROMPT),
                HumanMessage(content=f"Documents:\n{documents}\n\nQuestion: {question}"),
            ]
        )
        text = reply.content if isinstance(reply.content, str) else ""
        text = text.strip()
        return "" if not text or REFUSAL in text else text


def rephraser_from_settings(settings: Settings) -> Rephraser | None:
    """The configured rephraser, or None (the default: extractive answers only)."""
    if not settings.kb_llm_model:
        return None
    try:
        from langchain.chat_models import init_chat_model  # type: ignore[import-not-found]
    except ImportError:
        logger.warning(
            "FRONTDESK_KB_LLM_MODEL is set but the `langchain` package is not installed; "
            "answers stay extractive"
        )
        return None
    return LangchainRephraser(init_chat_model(settings.kb_llm_model))
