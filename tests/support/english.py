"""What an English reply looks like, for checking that a Spanish conversation has none.

The start of every English text the product can send (before its first placeholder, at least
12 characters): the bot's default response variations and the service's English catalogue.
Starts that the Spanish texts share are left out.
"""

from __future__ import annotations

from functools import lru_cache

from frontdesk import texts
from frontdesk.language import Language
from tests.doubles import bot_domain

MIN_START = 12


def _start(template: str) -> str:
    return template.split("{")[0].strip()


@lru_cache(maxsize=1)
def english_starts() -> tuple[str, ...]:
    """The distinctive starts of English texts, longest first."""
    english: set[str] = set()
    spanish: set[str] = set()
    for variations in bot_domain()["responses"].values():
        for variation in variations:
            start = _start(str(variation.get("text") or ""))
            (spanish if variation.get("condition") else english).add(start)
    english |= {_start(value) for value in texts.catalogue(Language.EN).values()}
    spanish |= {_start(value) for value in texts.catalogue(Language.ES).values()}
    distinct = {start for start in english - spanish if len(start) >= MIN_START}
    return tuple(sorted(distinct, key=len, reverse=True))


def english_in(reply: str) -> list[str]:
    """The English texts `reply` contains (empty for an all-Spanish reply)."""
    return [start for start in english_starts() if start in reply]
