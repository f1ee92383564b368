"""Emergency safety evaluation: `make eval-safety`.

Runs the two-level decision (frontdesk/conversations/safety.py) over the English safety set
(tests/conversations/data/safety_set.yml) and the Spanish one (safety_set_es.yml) and prints,
per set, the emergency recall (strong on a true emergency), the false-alarm rate (strong on a
benign message: the conversation would end) and how many benign messages get the 911 line in
front of the answer (weak). `--errors` lists every message on the wrong side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontdesk.conversations.safety import Signal, assess  # noqa: E402

SAFETY_SET = ROOT / "tests" / "conversations" / "data" / "safety_set.yml"
SAFETY_SET_ES = ROOT / "tests" / "conversations" / "data" / "safety_set_es.yml"


def load_set(path: Path = SAFETY_SET) -> tuple[list[str], list[str]]:
    """The true emergencies and the benign messages of the safety set."""
    data = yaml.safe_load(path.read_text())
    return [str(t) for t in data["emergencies"]], [str(t) for t in data["benign"]]


def report(path: Path, *, errors: bool) -> bool:
    """Print one set's figures; whether every emergency is strong and no benign one is."""
    emergencies, benign = load_set(path)
    missed = [t for t in emergencies if assess(t).signal is not Signal.STRONG]
    half = [t for t in emergencies if assess(t).signal is Signal.WEAK]
    alarms = [t for t in benign if assess(t).signal is Signal.STRONG]
    lines = [t for t in benign if assess(t).signal is Signal.WEAK]
    caught = len(emergencies) - len(missed)
    print(f"== {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"emergencies: {len(emergencies)}, benign: {len(benign)}")
    print(f"recall (strong): {caught}/{len(emergencies)} = {caught / len(emergencies):.1%}")
    print(f"  of the misses, weak (911 line, no escalation): {len(half)}")
    print(
        f"false alarms (strong on benign): {len(alarms)}/{len(benign)} = "
        f"{len(alarms) / len(benign):.1%}"
    )
    print(f"911 line on benign (weak): {len(lines)}/{len(benign)} = {len(lines) / len(benign):.1%}")
    if errors:
        for label, texts in (("MISSED", missed), ("FALSE ALARM", alarms), ("WEAK", lines)):
            for text in texts:
                print(f"{label}: {text}  [{assess(text).rule}]")
    return not missed and not alarms


def main() -> int:
    """Print the figures of each set; exit 1 if any emergency is not strong or any benign one is."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--set", type=Path, action="append", help="a safety set (default: English and Spanish)"
    )
    parser.add_argument("--errors", action="store_true", help="list every miss")
    args = parser.parse_args()
    sets: list[Path] = args.set or [SAFETY_SET, SAFETY_SET_ES]
    results = [report(path, errors=args.errors) for path in sets]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
