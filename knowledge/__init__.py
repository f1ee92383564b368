"""Knowledge answers from a practice's own documents (ingest and retrieval).

`knowledge.answer(question, practice_slug=...)` is the one entry point the bot, the command
line and the evaluation share. `knowledge/docs/<practice>/` holds demo documents.
"""

from __future__ import annotations

from knowledge.answer import Answer, Source, answer

__all__ = ["Answer", "Source", "answer"]
