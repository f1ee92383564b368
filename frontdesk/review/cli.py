"""`frontdesk model list | evaluate | promote | rollback` and `frontdesk nlu export-reviewed`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from frontdesk.clock import system_clock
from frontdesk.review.registry import Registry, RegistryError
from frontdesk.settings import Settings, get_settings

model_app = typer.Typer(help="Versioned Rasa models: list, evaluate, promote, roll back.")
Ref = Annotated[str, typer.Argument(help="Version (v3) or content hash; default the latest")]
nlu_app = typer.Typer(help="NLU training data from the console's review queue.")


def _registry(settings: Settings) -> Registry:
    return Registry.load(settings.registry_file)


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _load(settings: Settings, model: Path) -> None:
    from frontdesk.review.serving import load_into_rasa

    if load_into_rasa(settings, model):
        typer.echo(f"Rasa at {settings.rasa_url} now serves {model.name}")
    else:
        typer.echo(f"Rasa at {settings.rasa_url} did not answer; it serves this model on start")


@model_app.command("list")
def list_models() -> None:
    """Every registered model: version, hash, held-out figures by language, which is served."""
    registry = _registry(get_settings())
    current = registry.current
    if not registry.models:
        typer.echo("no models registered yet: run `frontdesk train`")
    for entry in registry.models:
        figures = str(entry.evaluation) if entry.evaluation else "not evaluated"
        mark = "*" if current is not None and entry.content_hash == current.content_hash else " "
        typer.echo(f"{mark} {entry.version:<5} {entry.content_hash[:12]}  {figures}")


@model_app.command()
def evaluate(ref: Ref = "") -> None:
    """Evaluate a model on each language's held-out set and record the figures."""
    from frontdesk.review.serving import evaluate_model

    settings = get_settings()
    registry = _registry(settings)
    try:
        entry = registry.find(ref) if ref else registry.latest
    except RegistryError as exc:
        _fail(str(exc))
        return
    if entry is None:
        _fail("no models registered yet: run `frontdesk train`")
        return
    entry.evaluation = evaluate_model(settings, Path(entry.path))
    registry.save()
    typer.echo(f"{entry.version}:")
    for code, figures in entry.evaluation.by_language.items():
        typer.echo(f"  {code} held-out: {figures}")


@model_app.command()
def promote(ref: Ref = "") -> None:
    """Serve a model if, in every language, it is not worse than the served one."""
    from frontdesk.review.serving import evaluate_model

    settings = get_settings()
    registry = _registry(settings)
    try:
        entry = registry.find(ref) if ref else registry.latest
        if entry is None:
            raise RegistryError("no models registered yet: run `frontdesk train`")
        if entry.evaluation is None:
            entry.evaluation = evaluate_model(settings, Path(entry.path))
        result = registry.promote(entry, now=system_clock())
    except RegistryError as exc:
        _fail(str(exc))
        return
    registry.save()  # the evaluation is kept even when the gate refuses
    if not result.passed:
        _fail(f"{entry.version} refused: " + "; ".join(result.reasons))
    typer.echo(f"promoted {entry.version} ({entry.content_hash[:12]})")
    _load(settings, Path(entry.path))


@model_app.command()
def rollback() -> None:
    """Serve the model promoted before the current one again."""
    settings = get_settings()
    registry = _registry(settings)
    try:
        entry = registry.rollback(now=system_clock())
    except RegistryError as exc:
        _fail(str(exc))
        return
    registry.save()
    typer.echo(f"rolled back to {entry.version} ({entry.content_hash[:12]})")
    _load(settings, Path(entry.path))


@nlu_app.command("export-reviewed")
def export_reviewed_command(
    out: Annotated[Path | None, typer.Option(help="Default: FRONTDESK_REVIEWED_NLU_FILE")] = None,
) -> None:
    """Write the labelled review items to bot/data/nlu/reviewed.yml in Rasa's NLU format."""
    from frontdesk.db import make_engine, make_session_factory, session_scope
    from frontdesk.review.export import export_reviewed

    settings = get_settings()
    target = out or settings.reviewed_nlu_file
    engine = make_engine(settings.sqlalchemy_url)
    with session_scope(make_session_factory(engine, clock=system_clock)) as session:
        count = export_reviewed(session=session, target=target)
    engine.dispose()
    if count:
        typer.echo(f"wrote {count} examples to {target}; `frontdesk train` retrains on them")
    else:
        typer.echo("no labelled examples yet: nothing written")
