"""`frontdesk kb ...`: ingest a practice's documents and ask questions from the shell."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from frontdesk.settings import get_settings

# Commands import the knowledge modules themselves: chromadb is slow to import, and every
# `frontdesk` command loads this sub-app.

app = typer.Typer(help="Practice knowledge base: ingest documents, ask questions.")


@app.command()
def ingest(
    directory: Annotated[Path, typer.Argument(help="Folder of Markdown, text or PDF documents.")],
    practice: str = typer.Option(..., "--practice", help="Practice slug, e.g. riverside."),
) -> None:
    """Ingest (or re-ingest incrementally) a folder of documents for a practice."""
    from knowledge.answering import shared_knowledge_base
    from knowledge.ingest import KnowledgeError, ingest_directory

    kb = shared_knowledge_base(get_settings())

    def progress(files: Iterable[Path]) -> Iterator[Path]:
        items = list(files)
        with typer.progressbar(items, label="ingesting", show_pos=True) as bar:
            yield from bar

    try:
        report = ingest_directory(
            directory=directory, practice_slug=practice, store=kb.store, progress=progress
        )
    except KnowledgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    kb.mark_changed(practice)
    typer.echo(
        f"{practice}: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged; "
        f"{report.passages} passages"
    )


@app.command()
def ask(
    question: Annotated[
        str | None, typer.Argument(help="The question, as a patient would ask it.")
    ] = None,
    practice: str = typer.Option(..., "--practice", help="Practice slug, e.g. riverside."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON contract shape."),
    questions_file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Answer every line of this file (one question a line; - is stdin)."
        ),
    ] = None,
) -> None:
    """Answer a question (or a file of them) from the practice's documents.

    Cold start matters here (the command is run by hand and from scripts): nothing heavy is
    imported unless the question needs it. The answer comes from the practice's snapshot
    (no chromadb), the embedder loads its two files directly, and the question is scrubbed of
    PHI (presidio, seconds to import) only when it would leave this process, that is when an
    LLM rephraser is configured; otherwise it is embedded in memory and printed back to the
    person who typed it, and nothing is stored or logged.
    """
    from knowledge.answering import KnowledgeBase, ensure_demo_ingested, shared_knowledge_base
    from knowledge.ingest import KnowledgeError

    questions = _questions(question, questions_file)
    kb = shared_knowledge_base(get_settings())
    if kb.rephraser is None:
        kb = KnowledgeBase(store=kb.store, threshold=kb.threshold, scrubber=_stays_here)
    try:
        ensure_demo_ingested(kb, practice)
        if not kb.store.has_collection(practice):
            typer.echo(
                f"error: nothing ingested for {practice!r}; run `frontdesk kb ingest DIR "
                f"--practice {practice}`",
                err=True,
            )
            raise typer.Exit(2)
        for asked in questions:
            result = kb.answer(asked, practice_slug=practice)
            _print(result.as_json(), asked if questions_file is not None else None, as_json)
    except KnowledgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _stays_here(question: str) -> str:
    return question


def _questions(question: str | None, questions_file: Path | None) -> list[str]:
    """The question, or the file's non-blank lines; a clear error for anything else."""
    if (question is None) == (questions_file is None):
        typer.echo("error: give either a QUESTION or --file FILE", err=True)
        raise typer.Exit(2)
    if questions_file is None:
        return [str(question)]
    try:
        if str(questions_file) == "-":
            text = sys.stdin.read()
        else:
            text = questions_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {questions_file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        typer.echo(f"error: {questions_file} has no questions (one a line)", err=True)
        raise typer.Exit(2)
    return lines


def _print(result: dict[str, Any], question: str | None, as_json: bool) -> None:
    """One answer; in batch mode each carries its question (JSON: one object a line)."""
    if as_json:
        typer.echo(json.dumps(result if question is None else {"question": question, **result}))
        return
    if question is not None:
        typer.echo(f"Q: {question}")
    typer.echo(result["answer"])
    for source in result["sources"]:
        typer.echo(f"  source: {source['source']} - {source['section']}")
    if not result["confident"]:
        typer.echo("  (not confident)")
