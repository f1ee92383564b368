"""Rasa's own test stories (bot/tests) pass against the trained model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from frontdesk.botctl import BOT_DIR, ensure_model, rasa_environment, rasa_executable
from frontdesk.settings import Settings
from tests.support.stack import free_port, stack_env

# Needs the Rasa environment, and trains the model first when bot/ changed.
pytestmark = [pytest.mark.rasa, pytest.mark.timeout(1200)]


def test_story_predictions_match(tmp_path: Path) -> None:
    env = stack_env(tmp_path, free_port(), free_port())
    settings = Settings(
        env="development",
        _env_file=None,
        data_dir=tmp_path,
        model_cache_dir=Path(env["FRONTDESK_MODEL_CACHE_DIR"]),
    )
    model = ensure_model(settings)
    result = subprocess.run(
        [
            str(rasa_executable(settings)),
            "test",
            "core",
            "--model",
            str(model),
            "--stories",
            str(BOT_DIR / "tests"),
            "--out",
            str(tmp_path / "results"),
            "--fail-on-prediction-errors",
        ],
        cwd=tmp_path,
        env=rasa_environment(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    failed = (tmp_path / "results" / "failed_test_stories.yml").read_text()
    assert "- story:" not in failed, failed
