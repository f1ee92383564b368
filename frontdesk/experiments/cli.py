"""`frontdesk experiments list|report`: a practice's reminder experiments from the shell.

Experiments are set up in the practice file (`reminder_experiments`, `frontdesk practice
apply`); these commands read them and their outcome, the same figures as the insights page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from frontdesk.settings import get_settings

app = typer.Typer(help="Reminder experiments (set up in the practice file).")
PracticeOption = Annotated[str, typer.Option("--practice", help="The practice's slug.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@contextmanager
def _practice_session(slug: str) -> Iterator[tuple[Session, int]]:
    from frontdesk.clock import system_clock
    from frontdesk.db import make_engine, make_session_factory, session_scope
    from frontdesk.practices.config.state import UnknownPracticeError, find_practice

    engine = make_engine(get_settings().sqlalchemy_url)
    try:
        with session_scope(make_session_factory(engine, clock=system_clock)) as session:
            try:
                practice_id = find_practice(session=session, slug=slug).id
            except UnknownPracticeError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(code=1) from exc
            yield session, practice_id
    finally:
        engine.dispose()


@app.command("list")
def list_experiments(practice: PracticeOption, as_json: JsonOption = False) -> None:
    """The practice's experiments with their days and arms."""
    from frontdesk.experiments.assignment import arms_of
    from frontdesk.experiments.outcomes import experiments_of

    with _practice_session(practice) as (session, practice_id):
        rows = [
            {
                "key": e.key,
                "name": e.name,
                "starts_on": e.starts_on.isoformat(),
                "ends_on": e.ends_on.isoformat() if e.ends_on else None,
                "arms": [
                    {"name": a.name, "weight": a.weight, "control": a.control} for a in arms_of(e)
                ],
            }
            for e in experiments_of(session=session, practice_id=practice_id)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"{practice}: no reminder experiments")
    for row in rows:
        typer.echo(f"{row['key']}: {row['name']} ({row['starts_on']} to {row['ends_on'] or '…'})")
        typer.echo(f"  arms: {_arms_line(row['arms'])}")


def _arms_line(arms: object) -> str:
    assert isinstance(arms, list)
    return ", ".join(
        f"{a['name']}{' (control)' if a['control'] else ''} ×{a['weight']}" for a in arms
    )


@app.command()
def report(
    practice: PracticeOption,
    key: Annotated[str | None, typer.Argument(help="One experiment; omit for all.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Each arm's visits, no-show and advance-cancellation rates, and the verdict."""
    from frontdesk.clock import system_clock
    from frontdesk.experiments.outcomes import experiments_of, measure
    from frontdesk.experiments.report import experiment_table, sentences

    with _practice_session(practice) as (session, practice_id):
        chosen = [
            e
            for e in experiments_of(session=session, practice_id=practice_id)
            if key is None or e.key == key
        ]
        if key is not None and not chosen:
            typer.echo(f"error: no experiment {key!r} in {practice}", err=True)
            raise typer.Exit(code=1)
        outcomes = [measure(session=session, experiment=e, now=system_clock()) for e in chosen]
    tables = [(experiment_table(o), sentences(o)) for o in outcomes]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "key": o.experiment.key,
                        "columns": list(table.columns),
                        "rows": [list(row) for row in table.rows],
                        "verdicts": verdicts,
                    }
                    for o, (table, verdicts) in zip(outcomes, tables, strict=True)
                ],
                indent=2,
            )
        )
        return
    for table, verdicts in tables:
        typer.echo(table.title)
        for row in table.rows:
            typer.echo(
                "  "
                + " | ".join(
                    f"{c}: {v}" for c, v in zip(table.columns, row, strict=True) if v != ""
                )
            )
        for line in verdicts:
            typer.echo(f"  {line}")
