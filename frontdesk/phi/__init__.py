"""PHI protection: find and replace patient identifiers wherever text leaves the record.

`scrub` is for logs, metrics, knowledge queries and LLM prompts; `tokens.protect_for_bot`
swaps PHI for per-conversation tokens before text reaches Rasa's tracker store. presidio and
spaCy load on the first scrub, not when `frontdesk` starts.
"""

from __future__ import annotations

from frontdesk.phi.logfilter import PhiLogFilter
from frontdesk.phi.redaction import scrub

__all__ = ["PhiLogFilter", "scrub"]
