"""Measuring the scrubber on annotated patient texts (`make eval-phi`, `bench/phi.py`).

An evaluation set is JSONL, one message a line: `{"text": ..., "phi": [[start, end, class],
...], "group": "en"}`. `class` names what the span is (HIPAA's Safe Harbor classes in
`classes-*.jsonl`: NAME, ADDRESS, DATE, ...; the older sets use the scrubber's kinds); `group`
(default "en") keeps language groups apart ("es" for Spanish), so a strong English figure
cannot hide a weak Spanish one.

A span counts as caught when every letter and digit of it is covered by some detection, of
any kind: what matters is that the value never leaves, not which label replaced it. A
non-PHI word is kept when no detection touches it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from presidio_analyzer import RecognizerResult

from frontdesk.phi.scrubber import Scrubber

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Case:
    """One annotated message."""

    text: str
    phi: tuple[tuple[int, int, str], ...]
    group: str = "en"


@dataclass
class ClassScore:
    """Planted and caught spans of one class in one group."""

    planted: int = 0
    caught: int = 0

    @property
    def recall(self) -> float:
        """Share of planted spans caught (1.0 when none were planted)."""
        return self.caught / self.planted if self.planted else 1.0


@dataclass
class Report:
    """What one engine did on one set."""

    messages: int = 0
    classes: dict[tuple[str, str], ClassScore] = field(
        default_factory=lambda: defaultdict(ClassScore)
    )
    words: int = 0
    kept: int = 0
    misses: list[str] = field(default_factory=list)
    over_scrubbed: list[str] = field(default_factory=list)

    @property
    def planted(self) -> int:
        """Planted spans over every class."""
        return sum(score.planted for score in self.classes.values())

    @property
    def caught(self) -> int:
        """Caught spans over every class."""
        return sum(score.caught for score in self.classes.values())

    @property
    def recall(self) -> float:
        """Share of planted spans caught."""
        return self.caught / self.planted if self.planted else 1.0

    @property
    def kept_share(self) -> float:
        """Share of non-PHI words left intact."""
        return self.kept / self.words if self.words else 1.0

    def group_recall(self, group: str) -> float:
        """Recall over the classes of one group."""
        scores = [s for (g, _), s in self.classes.items() if g == group]
        planted = sum(s.planted for s in scores)
        return sum(s.caught for s in scores) / planted if planted else 1.0


def load_cases(path: Path) -> list[Case]:
    """Read an evaluation set; a malformed line is an error naming the line."""
    cases: list[Case] = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw: dict[str, Any] = json.loads(line)
            text = str(raw["text"])
            spans = tuple((int(s), int(e), str(k)) for s, e, k in raw["phi"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not an evaluation case ({error})") from error
        for start, end, kind in spans:
            if not 0 <= start < end <= len(text):
                raise ValueError(
                    f"{path}:{number}: span {start}-{end} ({kind}) is outside the text"
                )
        cases.append(Case(text=text, phi=spans, group=str(raw.get("group", "en"))))
    return cases


def evaluate(scrubber: Scrubber, cases: list[Case]) -> Report:
    """Recall per class and the share of non-PHI words kept, for one engine."""
    report = Report(messages=len(cases))
    for case in cases:
        _score(case, scrubber.analyze(case.text), report)
    return report


def _score(case: Case, found: list[RecognizerResult], report: Report) -> None:
    text = case.text
    covered = [False] * len(text)
    for result in found:
        for i in range(result.start, result.end):
            covered[i] = True
    phi_chars = [False] * len(text)
    for start, end, kind in case.phi:
        score = report.classes[(case.group, kind)]
        score.planted += 1
        for i in range(start, end):
            phi_chars[i] = True
        if all(covered[i] for i in range(start, end) if text[i].isalnum()):
            score.caught += 1
        else:
            report.misses.append(f"{case.group}:{kind} {text[start:end]!r} in {text!r}")
    for match in _WORD.finditer(text):
        if any(phi_chars[match.start() : match.end()]):
            continue
        report.words += 1
        if any(covered[match.start() : match.end()]):
            report.over_scrubbed.append(f"{match.group(0)!r} in {text!r}")
        else:
            report.kept += 1
