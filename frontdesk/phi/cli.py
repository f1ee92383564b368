"""`frontdesk phi ...`: scrub text from the shell, purge old tracker events."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(help="PHI protection: scrub text, apply tracker retention.")


@app.command()
def scrub(
    accurate: bool = typer.Option(
        False, "--accurate", help="Also run spaCy's NER model (slower, catches rarer names)."
    ),
) -> None:
    """Read lines on stdin and write each one scrubbed to stdout."""
    from frontdesk.phi.scrubber import default_scrubber

    scrubber = default_scrubber("accurate" if accurate else "fast")
    for line in sys.stdin:
        ending = "\n" if line.endswith("\n") else ""
        sys.stdout.write(scrubber.scrub(line.rstrip("\n")) + ending)
        sys.stdout.flush()


@app.command("purge-tracker")
def purge_tracker(
    days: int | None = typer.Option(None, help="Keep this many days (default: the setting)."),
) -> None:
    """Delete Rasa tracker events older than the retention period."""
    from frontdesk.clock import system_clock
    from frontdesk.phi.retention import purge_tracker_events
    from frontdesk.settings import get_settings

    settings = get_settings()
    deleted = purge_tracker_events(
        tracker_url=settings.tracker_store_url,
        days=days or settings.tracker_retention_days,
        now=system_clock(),
    )
    typer.echo(f"deleted {deleted} tracker events")
