"""`make eval-conversations`: the scripted conversations against the real stack.

Starts `frontdesk run` (training first if bot/ changed) in a temporary folder, runs every
conversation of tests/e2e/conversations/conversations.yml over web chat or signed SMS, and
prints each one's pass or fail (with the failures and a transcript) and the task-success rate.
Exits 1 unless every conversation passed. `--only ID` (repeatable) runs a subset.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conversations.runner import (  # noqa: E402
    STACK_ENV,
    ConversationRunner,
    load_conversations,
    summary,
)
from tests.support.stack import running_stack  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="a conversation id")
    parser.add_argument("--verbose", action="store_true", help="transcripts of passes too")
    args = parser.parse_args()
    conversations = [c for c in load_conversations() if not args.only or c["id"] in args.only]
    outcomes = []
    with (
        tempfile.TemporaryDirectory(prefix="frontdesk-eval-conv-") as folder,
        running_stack(Path(folder), extra_env=STACK_ENV) as stack,
    ):
        runner = ConversationRunner(stack)
        for conversation in conversations:
            started = time.monotonic()
            outcome = runner.run(conversation)
            outcomes.append(outcome)
            mark = "PASS" if outcome.passed else "FAIL"
            if "known_failure" in conversation:
                mark += " (listed as a known failure)"
            took = time.monotonic() - started
            print(f"{mark} {outcome.id} ({outcome.channel}, {took:.1f} s)", flush=True)
            if not outcome.passed or args.verbose:
                for failure in outcome.failures:
                    print(f"    - {failure}")
                print("\n".join(outcome.transcript), flush=True)
    print(summary(outcomes))
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
