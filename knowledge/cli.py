"""`frontdesk kb ...`: ingest a practice's documents and ask questions from the shell."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

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
    question: Annotated[str, typer.Argument(help="The question, as a patient would ask it.")],
    practice: str = typer.Option(..., "--practice", help="Practice slug, e.g. riverside."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON contract shape."),
) -> None:
    """Answer a question from the practice's documents."""
    from knowledge.answering import ensure_demo_ingested, shared_knowledge_base
    from knowledge.ingest import KnowledgeError

    kb = shared_knowledge_base(get_settings())
    try:
        ensure_demo_ingested(kb, practice)
        if not kb.store.has_collection(practice):
            typer.echo(
                f"error: nothing ingested for {practice!r}; run `frontdesk kb ingest DIR "
                f"--practice {practice}`",
                err=True,
            )
            raise typer.Exit(2)
        result = kb.answer(question, practice_slug=practice)
    except KnowledgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    typer.echo(result.answer)
    for source in result.sources:
        typer.echo(f"  source: {source.source} - {source.section}")
    if not result.confident:
        typer.echo("  (not confident)")
