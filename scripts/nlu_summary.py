"""Print the headline figures of a `rasa test nlu` intent report."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> None:
    """Summarise an intent_report.json."""
    report = json.loads(Path(path).read_text())
    per_intent = {
        name: values
        for name, values in report.items()
        if isinstance(values, dict) and "f1-score" in values and "avg" not in name
    }
    print(f"intents: {len(per_intent)}")
    for key in ("macro avg", "weighted avg"):
        if key in report:
            print(f"{key:>13}: F1 {report[key]['f1-score']:.3f}")
    if "accuracy" in report:
        print(f"{'accuracy':>13}: {report['accuracy']:.3f}")
    worst = sorted(per_intent.items(), key=lambda item: item[1]["f1-score"])[:5]
    print("lowest F1: " + ", ".join(f"{n} {v['f1-score']:.2f}" for n, v in worst))


if __name__ == "__main__":
    main(sys.argv[1])
