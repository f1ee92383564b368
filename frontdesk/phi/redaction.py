"""`scrub`: PHI replaced by its kind, for logs, metrics, knowledge queries and LLM prompts."""

from __future__ import annotations


def scrub(text: str) -> str:
    """`text` with PHI replaced by its kind (`<PERSON>`, `<DATE_OF_BIRTH>`, ...)."""
    # Imported on the first scrub, not at start-up: presidio and spaCy take about a second to
    # load, which every command-line call would pay otherwise.
    from frontdesk.phi.scrubber import default_scrubber

    return default_scrubber().scrub(text)
