"""PHI scrubber evaluation: `make eval-phi`.

Sets under frontdesk/phi/eval/ (docs/phi.md says how each was made):
- classes-holdout.jsonl: 230 hand-written texts over every HIPAA Safe Harbor class that can
  appear in a text, English and Spanish, written before the class recognizers were tuned and
  never tuned on;
- classes-dev.jsonl: a separate hand-written set the recognizers were tuned on;
- messages.jsonl (210 texts from 30 shapes) and holdout.jsonl (40 texts): the first sets.

For each set and engine it prints recall of planted spans (a span counts when every one of its
letters and digits is covered by a detection), per language group and per class, the share
of non-PHI words left intact, and messages per second (`bench/phi.py` measures throughput
on its own).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontdesk.phi.evaluation import Report, evaluate, load_cases  # noqa: E402
from frontdesk.phi.scrubber import Scrubber  # noqa: E402

EVAL_DIR = ROOT / "frontdesk/phi/eval"
DEFAULT_SETS = ("classes-holdout.jsonl", "classes-dev.jsonl", "messages.jsonl", "holdout.jsonl")


def main() -> int:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--cases",
        type=Path,
        action="append",
        help="JSONL file(s); default: every set under frontdesk/phi/eval/",
    )
    parser.add_argument("--errors", action="store_true", help="list misses and false hits")
    parser.add_argument("--mode", choices=["fast", "accurate", "both"], default="both")
    args = parser.parse_args()
    paths = args.cases or [EVAL_DIR / name for name in DEFAULT_SETS if (EVAL_DIR / name).exists()]
    modes = ["fast", "accurate"] if args.mode == "both" else [args.mode]
    scrubbers = [Scrubber(mode=mode) for mode in modes]  # type: ignore[arg-type]
    for path in paths:
        cases = load_cases(path)
        with_phi = sum(1 for c in cases if c.phi)
        spans = sum(len(c.phi) for c in cases)
        print(
            f"\n{path.name}: {len(cases)} messages ({with_phi} with {spans} planted spans, "
            f"{len(cases) - with_phi} without)"
        )
        for scrubber in scrubbers:
            for case in cases[:20]:  # warm-up
                scrubber.analyze(case.text)
            started = time.perf_counter()
            report = evaluate(scrubber, cases)
            elapsed = time.perf_counter() - started
            show(scrubber.mode, report, rate=len(cases) / elapsed, errors=args.errors)
    return 0


def show(mode: str, report: Report, *, rate: float, errors: bool) -> None:
    """Print one engine's figures on one set."""
    groups = sorted({group for group, _ in report.classes})
    by_group = "  ".join(f"{g} {report.group_recall(g):.1%}" for g in groups)
    print(
        f"[{mode}] recall {report.recall:.1%} ({report.caught}/{report.planted})  [{by_group}]  "
        f"non-PHI words kept {report.kept_share:.1%} ({report.kept}/{report.words})  "
        f"{rate:.0f} messages/s"
    )
    for (group, kind), score in sorted(report.classes.items()):
        print(f"    {group} {kind:<22} {score.recall:6.1%}  {score.caught:>3}/{score.planted}")
    if errors:
        for line in report.misses:
            print(f"  missed {line}")
        for line in report.over_scrubbed:
            print(f"  over-scrubbed {line}")


if __name__ == "__main__":
    raise SystemExit(main())
