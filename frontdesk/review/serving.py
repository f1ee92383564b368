"""Evaluating a model on each language's held-out set; making the running Rasa serve the
promoted one.

Rasa 3.6's `PUT /model` loads a model into the running server; the old model answers until
the new one is loaded (the load blocks Rasa's event loop for a few seconds, so turns in that
moment wait, within the client's timeout, rather than fail). A Rasa that is not running picks
the promoted model up when it starts (`frontdesk run` asks the registry which to serve).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx

from frontdesk.botctl import BOT_DIR, rasa_environment, rasa_executable
from frontdesk.review.registry import Evaluation, Figures, Registry
from frontdesk.settings import Settings

# One held-out set per language we answer in (`make nlu-heldout` uses the same files): written
# before any tuning and never trained on.
HELDOUT_SETS: dict[str, Path] = {
    "en": BOT_DIR / "eval" / "nlu_heldout_en.yml",
    "es": BOT_DIR / "eval" / "nlu_heldout_es.yml",
}


def evaluate_model(
    settings: Settings, model: Path, *, test_sets: Mapping[str, Path] | None = None
) -> Evaluation:
    """Run `rasa test nlu` on each language's held-out set; the figures by language.

    One run per language, so that each language's figures are its own (a model that gets
    better in English cannot hide that it got worse in Spanish).
    """
    sets = HELDOUT_SETS if test_sets is None else test_sets
    return Evaluation({code: _figures(settings, model, data) for code, data in sets.items()})


def _figures(settings: Settings, model: Path, test_data: Path) -> Figures:
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as out:
        subprocess.run(  # noqa: S603 - our own executable, fixed arguments
            [
                str(rasa_executable(settings)),
                "test", "nlu",
                "--model", str(model),
                "--nlu", str(test_data),
                "--out", out,
            ],
            check=True,
            cwd=settings.data_dir,
            env=rasa_environment(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        report = json.loads((Path(out) / "intent_report.json").read_text())
    return Figures.from_intent_report(report)


def serving_model(settings: Settings) -> Path | None:
    """The promoted model Rasa should serve, if the registry has one that still exists."""
    current = Registry.load(settings.registry_file).current
    if current is None or not Path(current.path).exists():
        return None
    return Path(current.path)


def load_into_rasa(settings: Settings, model: Path, *, http: httpx.Client | None = None) -> bool:
    """Ask the running Rasa to load `model`; False when no Rasa answered.

    The token goes as `?token=`, the only form Rasa's `--auth-token` accepts.
    """
    client = http or httpx.Client(timeout=300.0)  # loading a model takes tens of seconds
    try:
        response = client.put(
            f"{settings.rasa_url.rstrip('/')}/model",
            params={"token": settings.rasa_token.get_secret_value()},
            json={"model_file": str(model)},
        )
    except httpx.HTTPError:
        return False
    finally:
        if http is None:
            client.close()
    return response.status_code == 204
