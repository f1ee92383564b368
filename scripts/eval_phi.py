"""PHI scrubber evaluation: `make eval-phi`.

Reads frontdesk/phi/eval/messages.jsonl (210 patient texts built from 30 message shapes, 160
with planted PHI spans, 50 without) and holdout.jsonl (40 texts written by hand afterwards,
30 with PHI, 10 without) and prints, for the fast and the accurate engine: recall of planted spans
(a span counts when every one of its letters and digits is covered by a detection), the share
of non-PHI words left intact, and messages per second.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontdesk.phi.scrubber import Scrubber  # noqa: E402

_WORD = re.compile(r"\w+")


def main() -> int:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--cases",
        type=Path,
        action="append",
        help="JSONL file(s); default: both sets under frontdesk/phi/eval/",
    )
    parser.add_argument("--errors", action="store_true", help="list misses and false hits")
    parser.add_argument("--mode", choices=["fast", "accurate", "both"], default="both")
    args = parser.parse_args()
    paths = args.cases or [
        ROOT / "frontdesk/phi/eval/messages.jsonl",
        ROOT / "frontdesk/phi/eval/holdout.jsonl",
    ]
    modes = ["fast", "accurate"] if args.mode == "both" else [args.mode]
    scrubbers = [Scrubber(mode=mode) for mode in modes]  # type: ignore[arg-type]
    for path in paths:
        cases = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        with_phi = sum(1 for c in cases if c["phi"])
        print(
            f"{path.name}: {len(cases)} messages ({with_phi} with planted PHI, "
            f"{len(cases) - with_phi} without)"
        )
        for scrubber in scrubbers:
            evaluate(scrubber, cases, errors=args.errors)
    return 0


def evaluate(scrubber: Scrubber, cases: list[dict], *, errors: bool) -> None:  # type: ignore[type-arg]
    """Recall, kept share and throughput for one engine."""
    for case in cases[:20]:  # warm-up
        scrubber.analyze(case["text"])
    planted = caught = words = kept = 0
    started = time.perf_counter()
    found_all = [scrubber.analyze(case["text"]) for case in cases]
    elapsed = time.perf_counter() - started
    for case, found in zip(cases, found_all, strict=True):
        text = case["text"]
        covered = [False] * len(text)
        for result in found:
            for i in range(result.start, result.end):
                covered[i] = True
        phi_chars = [False] * len(text)
        for start, end, kind in case["phi"]:
            planted += 1
            for i in range(start, end):
                phi_chars[i] = True
            ok = all(covered[i] for i in range(start, end) if text[i].isalnum())
            caught += ok
            if errors and not ok:
                print(f"  missed {kind}: {text[start:end]!r} in {text!r}")
        for match in _WORD.finditer(text):
            if any(phi_chars[match.start() : match.end()]):
                continue
            words += 1
            intact = not any(covered[match.start() : match.end()])
            kept += intact
            if errors and not intact:
                print(f"  over-scrubbed {match.group(0)!r} in {text!r}")
    print(
        f"[{scrubber.mode}] recall {caught / planted:.1%} ({caught}/{planted} planted spans)  "
        f"non-PHI words kept {kept / words:.1%}  {len(cases) / elapsed:.0f} messages/s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
