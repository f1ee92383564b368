"""Knowledge answers from a practice's own documents (ingest and retrieval).

`knowledge.answer(question, practice_slug=...)` is the one entry point the bot, the command
line and the evaluation share. `knowledge/docs/<practice>/` holds demo documents.
The heavy modules (chromadb, numpy) load on first use, not when `frontdesk` starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.answering import Answer, Source, answer

__all__ = ["Answer", "Source", "answer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from knowledge import answering as module

        return getattr(module, name)
    raise AttributeError(name)
