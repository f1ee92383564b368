"""Knowledge answers from a practice's own documents (ingest and retrieval).

`knowledge.answer(question, practice_slug=..., knowledge_base=...)` is the one entry point the
bot, the command line and the evaluation share; `knowledge.shared_knowledge_base(settings)`
opens the process's knowledge base. `knowledge/docs/<practice>/` holds demo documents.
The heavy modules (chromadb, numpy) load on first use, not when `frontdesk` starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.answering import (
        Answer,
        KnowledgeBase,
        Source,
        answer,
        shared_knowledge_base,
    )

__all__ = ["Answer", "KnowledgeBase", "Source", "answer", "shared_knowledge_base"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from knowledge import answering as module

        return getattr(module, name)
    raise AttributeError(name)
