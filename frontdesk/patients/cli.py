"""`frontdesk patients import|duplicates`: bring a practice's patients in from a CSV file."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer

from frontdesk.settings import get_settings

app = typer.Typer(help="A practice's patients: import from CSV, review possible duplicates.")
Slug = Annotated[str, typer.Option("--practice", help="Practice slug, e.g. riverside.")]


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="CSV file with a header row.")],
    practice: Slug,
    region: Annotated[
        str, typer.Option(help="Country of phone numbers written without +, e.g. US, CA, GB.")
    ] = "US",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report, import nothing.")
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Write the rejected rows here, with an `error` column, to fix."),
    ] = None,
) -> None:
    """Import patients row by row: rejected rows are reported, the rest go in (idempotent)."""
    from frontdesk.clock import system_clock
    from frontdesk.db import clock_of, make_engine, make_session_factory
    from frontdesk.patients.importing import ImportFileError, import_patients, read_rows
    from frontdesk.practices.config.state import UnknownPracticeError, find_practice

    try:
        header, rows = read_rows(path)
    except ImportFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    engine = make_engine(get_settings().sqlalchemy_url)
    try:
        with make_session_factory(engine, clock=system_clock)() as session:
            try:
                practice_id = find_practice(session=session, slug=practice).id
                with typer.progressbar(
                    rows, label=f"importing {len(rows)} row(s)", file=sys.stderr
                ) as bar:
                    report = import_patients(
                        session=session,
                        practice_id=practice_id,
                        header=header,
                        rows=bar,
                        today=clock_of(session)().date(),
                        region=region.upper(),
                    )
            except (ImportFileError, UnknownPracticeError) as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(code=1) from exc
            for number, reason in report.rejected:
                typer.echo(f"row {number}: rejected: {reason}")
            for number, patient_id, other_id in report.flagged:
                typer.echo(
                    f"row {number}: patient #{patient_id} may be the same person as "
                    f"#{other_id}; flagged for staff (`frontdesk patients duplicates`)"
                )
            if dry_run:
                session.rollback()
                typer.echo("dry run: nothing was imported")
            else:
                session.commit()
            typer.echo(report.summary())
    finally:
        engine.dispose()
    if rejects is not None:
        _write_rejects(rejects, header, rows, dict(report.rejected))
        typer.echo(f"rejected rows written to {rejects}")
    if report.rejected:
        raise typer.Exit(code=2)


def _write_rejects(
    path: Path, header: list[str], rows: list[dict[str, str]], reasons: dict[int, str]
) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*header, "error"])
        writer.writeheader()
        for number, row in enumerate(rows, start=2):
            if number in reasons:
                writer.writerow({**row, "error": reasons[number]})


@app.command()
def duplicates(practice: Slug) -> None:
    """List records an import flagged as possibly the same person (ids only, no details)."""
    from frontdesk.clock import system_clock
    from frontdesk.db import make_engine, make_session_factory, session_scope
    from frontdesk.patients.importing import open_duplicate_flags
    from frontdesk.practices.config.state import UnknownPracticeError, find_practice

    engine = make_engine(get_settings().sqlalchemy_url)
    try:
        with session_scope(make_session_factory(engine, clock=system_clock)) as session:
            try:
                practice_id = find_practice(session=session, slug=practice).id
            except UnknownPracticeError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(code=1) from exc
            flags = list(open_duplicate_flags(session=session, practice_id=practice_id))
            for flag in flags:
                typer.echo(f"patient #{flag.patient_id} ~ #{flag.other_patient_id}: {flag.reason}")
            typer.echo(f"{len(flags)} open duplicate flag(s)")
    finally:
        engine.dispose()


@app.command()
def sync(
    practice: Slug,
    region: Annotated[
        str, typer.Option(help="Country of phone numbers written without +, e.g. US.")
    ] = "US",
) -> None:
    """Import the Patients of the EHR at FRONTDESK_EHR_FHIR_URL (idempotent, as an import)."""
    from frontdesk.clock import system_clock
    from frontdesk.db import clock_of, make_engine, make_session_factory, session_scope
    from frontdesk.ehr.fhir import FhirEhr
    from frontdesk.ehr.interface import EhrError
    from frontdesk.ehr.tasks import build_ehr
    from frontdesk.patients.syncing import sync_patients
    from frontdesk.practices.config.state import UnknownPracticeError, find_practice

    settings = get_settings()
    ehr = build_ehr(settings)
    if not isinstance(ehr, FhirEhr):
        typer.echo("error: no EHR configured (set FRONTDESK_EHR_FHIR_URL)", err=True)
        raise typer.Exit(code=1)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with session_scope(make_session_factory(engine, clock=system_clock)) as session:
            try:
                practice_id = find_practice(session=session, slug=practice).id
                resources = ehr.list_patients()
            except UnknownPracticeError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(code=1) from exc
            except EhrError as exc:
                typer.echo(f"error: the EHR did not answer: {exc}", err=True)
                raise typer.Exit(code=1) from exc
            synced = sync_patients(
                session=session,
                practice_id=practice_id,
                resources=resources,
                today=clock_of(session)().date(),
                region=region.upper(),
            )
            for number, reason in synced.report.rejected:
                typer.echo(f"{synced.label(number)}: rejected: {reason}")
            for number, patient_id, other_id in synced.report.flagged:
                typer.echo(
                    f"{synced.label(number)}: patient #{patient_id} may be the same person as "
                    f"#{other_id}; flagged for staff (`frontdesk patients duplicates`)"
                )
            typer.echo(synced.report.summary().replace("row(s)", "patient(s) in the EHR"))
    finally:
        ehr.close()
        engine.dispose()
