"""The practice's own texts in the patient's language.

A practice writes its policy, fee and payment wording in its file in English (or whatever it
speaks) and may add translations (`translations.es` in the practice file). A patient writing in
Spanish reads the Spanish text where the practice gave one and the practice's own words
otherwise: they are quoted, never machine-translated. `practice validate` lists what is left
untranslated (`untranslated`).
"""

from __future__ import annotations

from typing import Literal

from frontdesk.practices.models import Practice

PracticeText = Literal[
    "cancellation_policy", "late_cancel_fee", "payment_methods", "post_visit_message"
]


def practice_text(
    practice: Practice, key: PracticeText, language: str, written: str | None
) -> str | None:
    """`written` (the practice file's own text) as a patient writing in `language` reads it.

    None when the practice wrote none (the caller then says its own default, translated).
    """
    if written is None:
        return None
    translated = (practice.translations or {}).get(language, {}).get(key)
    return translated or written
