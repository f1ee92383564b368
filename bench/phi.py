"""PHI scrubber throughput: messages per second of the fast path (`make bench-phi`).

Scrubs every message of the evaluation sets (frontdesk/phi/eval/*.jsonl, about 700 patient
texts, with and without PHI) through `Scrubber.scrub`, the call the log filter, the knowledge
base and `protect_for_bot` make, several rounds in one thread, and prints the rate of each
round with the median and the best, by the wall clock and per CPU second. The goal is at
least 500 messages/s (docs/phi.md); on a shared, loaded machine the wall-clock rate says how
busy the machine is, and the rate per CPU second what one free core would do.

Usage: .venv/bin/python bench/phi.py [--rounds 5] [--mode fast] [--cases FILE ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from frontdesk.phi.evaluation import load_cases  # noqa: E402
from frontdesk.phi.scrubber import Scrubber  # noqa: E402

GOAL = 500.0


def main() -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=["fast", "accurate"], default="fast")
    parser.add_argument("--cases", type=Path, action="append")
    args = parser.parse_args()
    paths = args.cases or sorted((ROOT / "frontdesk/phi/eval").glob("*.jsonl"))
    texts = [case.text for path in paths for case in load_cases(path)]
    scrubber = Scrubber(mode=args.mode)
    for text in texts[:50]:  # warm-up: compiled patterns, presidio's caches
        scrubber.scrub(text)
    rates, cpu_rates = [], []
    for round_number in range(1, args.rounds + 1):
        started, cpu_started = time.perf_counter(), time.process_time()
        for text in texts:
            scrubber.scrub(text)
        rate = len(texts) / (time.perf_counter() - started)
        cpu_rate = len(texts) / max(time.process_time() - cpu_started, 1e-9)
        rates.append(rate)
        cpu_rates.append(cpu_rate)
        print(
            f"round {round_number}: {len(texts)} messages, {rate:,.0f} messages/s "
            f"({cpu_rate:,.0f} per CPU second)"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"[{args.mode}] median {statistics.median(rates):,.0f} messages/s, best "
        f"{max(rates):,.0f}; {statistics.median(cpu_rates):,.0f} per CPU second "
        f"(goal {GOAL:,.0f}; load average {load:.1f} on {os.cpu_count()} cores)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
