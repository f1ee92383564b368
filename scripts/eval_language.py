"""Language detection on short patient texts (tests/language/short_texts.yml).

Prints, for a first message (undecided conversation): right / undecided / wrong per group, and
for a message inside a conversation already in the other language: how often it is kept.
    .venv/bin/python scripts/eval_language.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from frontdesk.language import Language, language_after

SET = Path(__file__).resolve().parent.parent / "tests" / "language" / "short_texts.yml"


def main() -> int:
    data = yaml.safe_load(SET.read_text(encoding="utf-8"))
    groups = {
        "es": [(text, Language.ES) for text in data["es"]],
        "es_mixed": [(text, Language.ES) for text in data["es_mixed"]],
        "en": [(text, Language.EN) for text in data["en"]],
        "switch": [(item["text"], Language(item["expected"])) for item in data["switch"]],
    }
    print(f"{'group':10} {'n':>4} {'right':>7} {'undecided':>10} {'wrong':>7}")
    for name, items in groups.items():
        decided = [language_after(None, text) for text, _ in items]
        right = sum(got == want for got, (_, want) in zip(decided, items, strict=True))
        undecided = sum(got is None for got in decided)
        wrong = len(items) - right - undecided
        print(
            f"{name:10} {len(items):>4} {right / len(items):>7.1%} "
            f"{undecided / len(items):>10.1%} {wrong / len(items):>7.1%}"
        )
    mixed_kept = sum(language_after(Language.ES, t) is Language.ES for t, _ in groups["es_mixed"])
    print(
        f"a mixed message inside a Spanish conversation keeps it Spanish: "
        f"{mixed_kept / len(groups['es_mixed']):.1%}"
    )
    for name, other in (("es", Language.EN), ("en", Language.ES)):
        items = groups[name]
        moved = sum(language_after(other, text) == want for text, want in items)
        print(
            f"an {name} message inside an {other.value} conversation switches it: "
            f"{moved / len(items):.1%} (only whole sentences should)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
