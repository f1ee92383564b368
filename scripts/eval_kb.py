"""Knowledge base evaluation: `make eval-kb`.

Ingests the demo documents into a throw-away store, asks every question in
knowledge/eval/<practice>.jsonl and prints top-1 / top-3 accuracy (source file + heading),
the abstention rate on unanswerable questions, wrong abstentions on answerable ones, and the
p95 latency of a full answer after warm-up. `--compare` also ranks with BM25 only and dense
only, and `--sweep` prints how the confidence threshold trades the two error kinds.
`--language es` asks knowledge/eval/<practice>-es.jsonl against the practice's Spanish passages
with the Spanish confidence rule and threshold (questions are answered only from passages in
their own language; the default, English, likewise leaves Spanish documents out).
When knowledge/eval/<practice>[-es]-two.jsonl exists, its questions go through the full answer
path and the script prints how many two-topic questions were answered from both expected
passages, how many single-topic questions with "and" stayed one answer, and how many
half-answerable ones got their answerable part plus the "other part" note (issue 14).
`--held-out` asks knowledge/eval/held-out/<practice>[-es].jsonl instead: questions written
before a round of tuning and never tuned against (docs/knowledge.md says which figures are
which); the two-topic questions are left out then.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontdesk.language import Language  # noqa: E402
from knowledge.answering import KnowledgeBase  # noqa: E402
from knowledge.calibrate import confidence, spanish_confidence  # noqa: E402
from knowledge.ingest import KnowledgeStore, ingest_directory  # noqa: E402
from knowledge.retrieve import Hit, HybridRetriever  # noqa: E402


def load_cases(path: Path) -> list[dict[str, str | None]]:
    """The evaluation questions."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--practice", default="riverside")
    parser.add_argument("--docs", type=Path, default=None)
    parser.add_argument("--cases", type=Path, default=None)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--compare", action="store_true", help="also BM25-only and dense-only")
    parser.add_argument("--sweep", action="store_true", help="threshold trade-off table")
    parser.add_argument("--errors", action="store_true", help="list every miss")
    parser.add_argument("--language", choices=["en", "es"], default="en")
    parser.add_argument(
        "--held-out", action="store_true", help="the held-out questions (never tuned against)"
    )
    args = parser.parse_args()
    language = Language(args.language)
    docs = args.docs or ROOT / "knowledge" / "docs" / args.practice
    suffix = "" if language is Language.EN else f"-{language}"
    eval_dir = ROOT / "knowledge" / "eval" / ("held-out" if args.held_out else "")
    cases = load_cases(args.cases or eval_dir / f"{args.practice}{suffix}.jsonl")
    from frontdesk.settings import Settings

    default = Settings.model_fields["kb_confidence_threshold"].default  # no secrets needed
    fallback = args.threshold if args.threshold is not None else default
    with tempfile.TemporaryDirectory() as tmp:
        store = KnowledgeStore(Path(tmp))
        started = time.perf_counter()
        report = ingest_directory(directory=docs, practice_slug=args.practice, store=store)
        ingest_ms = (time.perf_counter() - started) * 1000
        kb = KnowledgeBase(store=store, threshold=fallback)
        # The practice's threshold as calibrated at ingest, unless --threshold overrides it.
        retriever, calibrated = kb.retriever_in(args.practice, language)
        threshold = args.threshold if args.threshold is not None else calibrated
        print(
            f"abstention threshold: {threshold:.3f} ("
            f"{'--threshold' if args.threshold is not None else 'calibrated at ingest'})"
        )
        print(
            f"documents: {len(report.added)} files, {report.passages} passages "
            f"(ingest {ingest_ms:.0f} ms); questions: {len(cases)}"
        )
        chosen = retriever.dense_weight
        weights = [(f"hybrid {chosen:.1f} dense", chosen)]
        if args.compare:
            weights += [("bm25 only", 0.0), ("dense only", 1.0)]
        score = spanish_confidence if language is Language.ES else confidence
        for label, weight in weights:
            retriever.dense_weight = weight
            evaluate(retriever, score, kb.scrub, cases, label, threshold, args.sweep, args.errors)
        retriever.dense_weight = chosen
        two_path = ROOT / "knowledge" / "eval" / f"{args.practice}{suffix}-two.jsonl"
        if args.cases is None and not args.held_out and two_path.exists():
            two_topics(kb, load_cases(two_path), args.practice, language, args.errors)
        latency(kb, cases, args.practice, language)
    return 0


def evaluate(
    retriever: HybridRetriever,
    confidence: Callable[[Hit], float],
    scrub: Callable[[str], str],
    cases: list[dict[str, str | None]],
    label: str,
    threshold: float,
    sweep: bool,
    errors: bool,
) -> None:
    """Accuracy and abstention for one ranking setup."""
    answerable = [c for c in cases if c["source"]]
    unanswerable = [c for c in cases if not c["source"]]
    top1 = top3 = 0
    scores_ok: list[float] = []
    scores_no: list[float] = []
    for case in answerable:
        hits = retriever.search(scrub(str(case["question"])), k=3)
        keys = [(h.passage.source, h.passage.section) for h in hits]
        want = (case["source"], case["section"])
        top1 += keys[:1] == [want]
        top3 += want in keys
        scores_ok.append(confidence(hits[0]))
        if errors and keys[:1] != [want]:
            print(f"  miss: {case['question']!r} -> {keys[0]} (want {want})")
    for case in unanswerable:
        hits = retriever.search(scrub(str(case["question"])), k=1)
        scores_no.append(confidence(hits[0]))
        if errors and confidence(hits[0]) >= threshold:
            print(f"  answered: {case['question']!r} -> {hits[0].passage.section}")
    abstain = sum(s < threshold for s in scores_no) / max(len(scores_no), 1)
    wrongly = sum(s < threshold for s in scores_ok) / max(len(scores_ok), 1)
    print(
        f"[{label}] top-1 {top1 / len(answerable):.1%}  top-3 {top3 / len(answerable):.1%}  "
        f"abstain on unanswerable {abstain:.1%} ({len(unanswerable)})  "
        f"abstain on answerable {wrongly:.1%}  (threshold {threshold:.2f})"
    )
    if sweep:
        for t in [x / 100 for x in range(30, 75, 5)]:
            a = sum(s < t for s in scores_no) / max(len(scores_no), 1)
            w = sum(s < t for s in scores_ok) / max(len(scores_ok), 1)
            print(f"    threshold {t:.2f}: abstain unanswerable {a:.0%}, answerable {w:.0%}")


def two_topics(
    kb: KnowledgeBase,
    cases: list[dict[str, Any]],
    practice: str,
    language: Language,
    errors: bool,
) -> None:
    """Questions about two topics, one topic with "and", or one answerable part of two."""
    results: dict[str, list[bool]] = {"two": [], "one": [], "half": []}
    asked_other = 0
    for case in cases:
        answer = kb.answer(str(case["question"]), practice_slug=practice, language=language)
        got = [(s.source, s.section) for s in answer.sources]
        want = [(s["source"], s["section"]) for s in case["sources"]]
        kind = str(case["kind"])
        if kind == "two":
            ok = answer.confident and sorted(got) == sorted(want) and not answer.part_not_sure
            asked_other += answer.confident and bool(answer.part_not_sure) and set(got) <= set(want)
        elif kind == "one":
            ok = answer.confident and got == want and not answer.parts
        else:
            ok = answer.confident and got == want and bool(answer.part_not_sure)
        results[kind].append(ok)
        if errors and not ok:
            note = " + other part to a person" if answer.part_not_sure else ""
            print(f"  {kind} miss: {case['question']!r} -> {got}{note} (want {want})")

    def rate(kind: str) -> str:
        done = results[kind]
        return f"{sum(done)}/{len(done)} ({sum(done) / max(len(done), 1):.0%})"

    print(
        f"[two topics] both answered {rate('two')} (one answered + other part offered to a "
        f"person: {asked_other}); single topic with 'and' kept as one {rate('one')}; "
        f"answerable part answered + rest offered to a person {rate('half')}"
    )


def latency(
    kb: KnowledgeBase, cases: list[dict[str, str | None]], practice: str, language: Language
) -> None:
    """p50/p95 of full answers (scrub, retrieve, extract) after a warm-up pass."""
    questions = [str(c["question"]) for c in cases]
    for question in questions:  # warm-up
        kb.answer(question, practice_slug=practice, language=language)
    timings = []
    for _ in range(3):
        for question in questions:
            started = time.perf_counter()
            kb.answer(question, practice_slug=practice, language=language)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"answer latency after warm-up: p50 {statistics.median(timings):.1f} ms, "
        f"p95 {p95:.1f} ms ({len(timings)} answers)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
