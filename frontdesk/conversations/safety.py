"""A deterministic safety net for emergencies, applied before the NLU model sees a message.

The intent classifier is good but not perfect, and a missed emergency is the one error we
cannot afford. Messages matching these patterns go to the bot as the `medical_emergency`
intent, which tells the patient to call 911 (or 988) and stops. The list errs on the side of
caution: a false alarm costs one unnecessary safety message, a miss could cost a life.
"""

from __future__ import annotations

import re

_PATTERNS = [
    r"\bchest\b.{0,25}\b(pain|hurts?|hurting|pressure|tight(ness)?|crushing|squeez\w*)",
    r"\b(pain|pressure|tightness)\b.{0,15}\bchest\b",
    r"\bheart attack\b",
    r"\b(can'?t|cannot|cant|unable to|hard to|struggling to|trouble|difficulty)\s+"
    r"(catch\s+(my|his|her|their)\s+)?breath(e|ing)?\b",
    r"\b(not|isn'?t|stopped|stop)\s+breathing\b",
    r"\b(choking|suffocating|gasping for air)\b",
    r"\blips?\b.{0,15}\bblue\b",
    r"\bstroke\b",
    r"\bface\b.{0,15}\bdroop",
    r"\bslurr(ed|ing)\b",
    r"\b(unconscious|unresponsive|passed out|collapsed|won'?t wake up|not waking up)\b",
    r"\bseizure|\bconvuls",
    r"\bbleeding\b.{0,20}\b(heavily|a lot|won'?t stop|wont stop|not stopping|everywhere)\b",
    r"\b(won'?t|wont|can'?t|cant) stop (the )?bleeding\b",
    r"\boverdos",
    r"\bpoison(ed|ing)?\b",
    r"\bswallowed\b.{0,20}\b(pills|bottle|bleach|detergent|battery)\b",
    r"\bsuicid",
    r"\bkill(ing)? (myself|my self|me)\b",
    r"\b(end(ing)? (my life|it all)|want to die|better off dead)\b",
    r"\b(hurt(ing)?|harm(ing)?|cut(ting)?) myself\b",
    r"\bself[- ]harm",
    r"\b(throat|tongue)\b.{0,15}\b(closing|swell\w*|swollen)\b",
    r"\banaphyla",
    r"\b(ambulance|911|sos)\b",
    r"\b(it'?s|this is) an emergency\b",
    r"\b(took|take|taken|ate|eaten|swallowed)\b.{0,20}\btoo many\b",
    r"\b(ate|eaten|drank|drunk|swallowed)\b.{0,25}\b(pills|bleach|cleaning|detergent|"
    r"antifreeze|chemicals?|batter(y|ies))\b",
    r"\bblood everywhere\b",
    r"\b(can'?t|cannot) (move|feel) (one|the left|the right|my left|my right) side\b",
    r"\b(don'?t|do not) want to (be alive|live)\b",
]
_EMERGENCY = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
# "no chest pain", "not suicidal": the patient is ruling something out.
_NEGATED = re.compile(r"\b(no|not|never|without|denies|deny)\s+(\w+\s+){0,2}$", re.IGNORECASE)
MAX_SCAN_CHARS = 2000


def is_emergency(text: str) -> bool:
    """Whether a patient message describes an emergency that must not wait for the NLU."""
    text = text[:MAX_SCAN_CHARS].replace("’", "'")
    for match in _EMERGENCY.finditer(text):
        if not _NEGATED.search(text[max(0, match.start() - 40) : match.start()]):
            return True
    return False
