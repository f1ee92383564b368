"""Spanish time preferences on a held-out set: how many read as their English equivalent.

Each row of frontdesk/scheduling/eval/timeprefs-es-heldout.tsv pairs a Spanish preference
with the English wording that means the same; a row passes when
``parse_time_preference(spanish, language="es")`` equals ``parse_time_preference(english)``
(or both fail for the same reason). The set was written before the first run and is not to
be tuned on: add new cases to tests/scheduling/test_timeprefs_es.py instead.

Usage: .venv/bin/python bench/timeprefs_es.py [--cases FILE] [--misses]
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from frontdesk.scheduling.timeprefs import (  # noqa: E402
    TimePreference,
    TimePreferenceError,
    parse_time_preference,
)

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=NY)


def _read(text: str, language: str) -> TimePreference | str:
    try:
        return parse_time_preference(text, now=NOW, tz=NY, language=language)
    except TimePreferenceError as error:
        return error.reason


def main() -> int:
    """Score the set and print the figure (and the misses with --misses)."""
    parser = argparse.ArgumentParser(description=__doc__)
    default = ROOT / "frontdesk/scheduling/eval/timeprefs-es-heldout.tsv"
    parser.add_argument("--cases", type=Path, default=default)
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args()
    rows = [
        line.split("\t")
        for line in args.cases.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    misses = [(es, en) for es, en in rows if _read(es, "es") != _read(en, "en")]
    passed = len(rows) - len(misses)
    sys.stdout.write(f"{passed}/{len(rows)} read as their English equivalent")
    sys.stdout.write(f" ({100 * passed / len(rows):.1f} %)\n")
    if args.misses:
        for es, en in misses:
            sys.stdout.write(f"  {es!r}: got {_read(es, 'es')}, wanted {_read(en, 'en')}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
