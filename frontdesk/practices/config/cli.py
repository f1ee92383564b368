"""`frontdesk practice validate|apply|export`: a practice as a version-controlled file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from frontdesk.practices.config.checks import untranslated
from frontdesk.practices.config.loading import PracticeFileError, load_practice
from frontdesk.practices.config.schema import PracticeFile
from frontdesk.settings import get_settings

FileArgument = Annotated[Path, typer.Argument(help="The practice file (YAML).")]
app = typer.Typer(help="Set up a practice from a YAML file (see docs/practice-file.md).")


def _load_or_exit(path: Path) -> PracticeFile:
    try:
        return load_practice(path)
    except PracticeFileError as exc:
        for problem in exc.problems:
            typer.echo(problem.render(str(path)), err=True)
        typer.echo(f"{path}: {len(exc.problems)} problem(s); nothing was changed", err=True)
        raise typer.Exit(code=1) from exc


@app.command()
def validate(path: FileArgument) -> None:
    """Check a practice file; print every problem with its line, exit 1 if there are any."""
    spec = _load_or_exit(path)
    typer.echo(
        f"{path}: ok ({spec.slug}: {len(spec.locations)} location(s), "
        f"{len(spec.providers)} provider(s), {len(spec.visit_types)} visit type(s))"
    )
    missing = untranslated(spec, "es")
    if missing:
        typer.echo(
            "note: patients who write in Spanish read these as written (add them under "
            "`translations.es`, or `names.es` on a visit type): " + ", ".join(missing)
        )


@app.command()
def apply(
    path: FileArgument,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the changes, change nothing.")
    ] = False,
) -> None:
    """Create or update the practice the file describes, in one transaction; print the diff."""
    from frontdesk.clock import system_clock
    from frontdesk.db import make_engine, make_session_factory
    from frontdesk.practices.config.service import apply_practice_file
    from frontdesk.practices.config.state import ApplyRefusedError

    spec = _load_or_exit(path)
    engine = make_engine(get_settings().sqlalchemy_url)
    factory = make_session_factory(engine, clock=system_clock)
    try:
        with factory() as session:
            try:
                result = apply_practice_file(session=session, spec=spec, source=path.name)
            except ApplyRefusedError as exc:
                session.rollback()
                for reason in exc.reasons:
                    typer.echo(f"refused: {reason}", err=True)
                typer.echo(f"{spec.slug}: nothing was changed", err=True)
                raise typer.Exit(code=1) from exc
            for line in result.changes:
                typer.echo(line)
            if not result.changes:
                typer.echo(f"{spec.slug}: no changes")
            elif dry_run:
                session.rollback()
                typer.echo(f"{spec.slug}: dry run, {len(result.changes)} change(s) not applied")
            else:
                session.commit()
                typer.echo(f"{spec.slug}: {len(result.changes)} change(s) applied")
                folder_changed = any("knowledge_folder" in line for line in result.changes)
                if spec.knowledge_folder and (result.created or folder_changed):
                    typer.echo(
                        "next: index its documents with `frontdesk kb ingest "
                        f"{spec.knowledge_folder} --practice {spec.slug}`"
                    )
    finally:
        engine.dispose()


@app.command()
def export(
    slug: Annotated[str, typer.Argument(help="The practice's slug, e.g. riverside.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here, not stdout.")
    ] = None,
) -> None:
    """Write the practice's current set-up as a practice file (the canonical form)."""
    from frontdesk.clock import system_clock
    from frontdesk.db import make_engine, make_session_factory, session_scope
    from frontdesk.practices.config.canonical import to_yaml
    from frontdesk.practices.config.state import UnknownPracticeError, export_practice

    engine = make_engine(get_settings().sqlalchemy_url)
    try:
        with session_scope(make_session_factory(engine, clock=system_clock)) as session:
            try:
                text = to_yaml(export_practice(session=session, slug=slug))
            except UnknownPracticeError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


@app.command()
def schema() -> None:
    """Print the format's JSON Schema (docs/practice.schema.json is this output)."""
    import json

    from frontdesk.practices.config.schema import practice_json_schema

    typer.echo(json.dumps(practice_json_schema(), indent=2, sort_keys=True))
