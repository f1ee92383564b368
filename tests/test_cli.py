"""The `frontdesk` command: migrate and seed-demo are idempotent; train reuses the cache."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from frontdesk import botctl
from frontdesk.cli import app
from frontdesk.db import make_engine
from frontdesk.models import Patient, Practice, Provider, VisitType, WeeklyHours
from frontdesk.settings import PROJECT_ROOT, Settings, get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_ENV", "development")  # a developer's shell (`make`)
    monkeypatch.delenv("FRONTDESK_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # a developer's .env in the checkout must not be used
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_run_can_call_migrate_as_a_function(data_dir: Path) -> None:
    """`frontdesk run` migrates by calling the command's function with its defaults."""
    from frontdesk.cli import migrate

    migrate()
    assert (data_dir / "frontdesk.db").exists()


def test_migrate_and_seed_demo_twice(data_dir: Path) -> None:
    runner = CliRunner()
    for _ in range(2):
        assert runner.invoke(app, ["migrate"]).exit_code == 0
        result = runner.invoke(app, ["seed-demo"])
        assert result.exit_code == 0, result.output
        assert "Riverside Family Medicine" in result.output
    engine = make_engine(f"sqlite:///{data_dir / 'frontdesk.db'}")
    with Session(engine) as db:
        counts = {
            model.__name__: db.scalar(select(func.count()).select_from(model))
            for model in (Practice, Provider, VisitType, Patient)
        }
        assert db.scalars(select(func.count()).select_from(WeeklyHours)).one() > 0
    engine.dispose()
    assert counts == {"Practice": 1, "Provider": 2, "VisitType": 3, "Patient": 3}


def test_model_hash_follows_training_inputs_only(tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    (bot / "data").mkdir(parents=True)
    (bot / "domain").mkdir()
    (bot / "tests").mkdir()
    (bot / "config.yml").write_text("pipeline: []\n")
    (bot / "data" / "nlu.yml").write_text("nlu: []\n")
    (bot / "domain" / "core.yml").write_text("intents: [greet]\n")
    lock = tmp_path / "rasa.lock"
    lock.write_text("rasa==3.6.21\n")
    first = botctl.bot_content_hash(bot, (lock,))
    (bot / "tests" / "test_stories.yml").write_text("stories: []\n")
    assert botctl.bot_content_hash(bot, (lock,)) == first  # test stories don't change the model
    (bot / "data" / "nlu.yml").write_text("nlu: [x]\n")
    second = botctl.bot_content_hash(bot, (lock,))
    assert second != first
    lock.write_text("rasa==3.6.22\n")
    third = botctl.bot_content_hash(bot, (lock,))
    assert third != second
    (bot / "components" / "__pycache__").mkdir(parents=True)
    (bot / "components" / "__pycache__" / "featurizer.cpython-310.pyc").write_bytes(b"\0")
    assert botctl.bot_content_hash(bot, (lock,)) == third  # bytecode is not an input
    (bot / "components" / "featurizer.py").write_text("WEIGHT = 3\n")
    assert botctl.bot_content_hash(bot, (lock,)) != third  # an NLU component's code is


def test_a_cached_model_is_reused_without_rasa(tmp_path: Path) -> None:
    # An explicit cache dir: FRONTDESK_MODEL_CACHE_DIR (set by CI) must never get this fake.
    settings = Settings(
        _env_file=None,
        env="development",
        data_dir=tmp_path,
        model_cache_dir=tmp_path / "models",
        rasa_venv=tmp_path / "missing",
    )
    cached = botctl.model_path(settings)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"model")
    assert botctl.ensure_model(settings) == cached  # no Rasa needed: nothing to train
    with pytest.raises(botctl.RasaSetupError, match="make setup"):
        botctl.ensure_model(settings, force=True)


def test_a_rasa_token_starting_with_a_dash_stays_the_token(tmp_path: Path) -> None:
    # Rasa parses its command line with argparse, which reads "--auth-token -x…" as a missing
    # value followed by an unknown option (Rasa exits with code 2); "=" keeps them one.
    token = "-Tq3vJ0c9kQe"  # secrets.token_urlsafe starts with "-" once in 64 draws
    rasa = tmp_path / "rasa-venv" / "bin" / "rasa"  # the command line only needs it to exist
    rasa.parent.mkdir(parents=True)
    rasa.touch()
    settings = Settings(
        _env_file=None,
        env="development",
        data_dir=tmp_path,
        rasa_venv=tmp_path / "rasa-venv",
        rasa_token=token,
    )
    command = botctl.rasa_server_command(settings, tmp_path / "model.tar.gz", port=5005)
    parser = argparse.ArgumentParser()
    parser.add_argument("-t", "--auth-token")
    parser.add_argument("-i", "--interface")
    known, _ = parser.parse_known_args(command[2:])
    assert known.auth_token == token
    assert known.interface == "127.0.0.1"


def test_the_scale_endpoints_file_does_not_change_the_model_cache_key(tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    shutil.copytree(botctl.BOT_DIR, bot, ignore=shutil.ignore_patterns("tests"))
    before = botctl.bot_content_hash(bot, botctl.TRAINING_DEPENDENCIES)
    (bot / "endpoints.scale.yml").write_text("lock_store:\n  type: in_memory\n")
    (bot / "endpoints.yml").unlink()
    assert botctl.bot_content_hash(bot, botctl.TRAINING_DEPENDENCIES) == before
    assert before == botctl.bot_content_hash()  # the copy hashes like the real bot/


def test_rasa_lock_store_variables_follow_the_service_redis_url(tmp_path: Path) -> None:
    assert botctl.redis_lock_store_variables("rediss://:p%40ss@redis.internal:6380/0") == {
        "FRONTDESK_REDIS_HOST": "redis.internal",
        "FRONTDESK_REDIS_PORT": "6380",
        "FRONTDESK_REDIS_DB": "1",
        "FRONTDESK_REDIS_PASSWORD": "p@ss",
    }
    local = botctl.redis_lock_store_variables("")
    assert (local["FRONTDESK_REDIS_HOST"], local["FRONTDESK_REDIS_PORT"]) == ("127.0.0.1", "6379")
    settings = Settings(
        env="development", _env_file=None, data_dir=tmp_path, redis_url="redis://cache:6390/0"
    )
    assert botctl.rasa_environment(settings)["FRONTDESK_REDIS_PORT"] in ("6390", *_explicit())


def _explicit() -> tuple[str, ...]:
    """An explicit FRONTDESK_REDIS_PORT in this shell wins over the URL."""
    import os

    return (os.environ["FRONTDESK_REDIS_PORT"],) if "FRONTDESK_REDIS_PORT" in os.environ else ()


def test_run_refuses_placeholder_secrets_without_dev(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRONTDESK_ENV")  # `frontdesk run` on a fresh clone: production
    result = CliRunner().invoke(app, ["run", "--no-rasa"])
    assert result.exit_code == 2
    assert "placeholder secrets: FRONTDESK_SECRET_KEY" in result.output
    assert not (data_dir / "frontdesk.db").exists()  # refused before touching anything


def test_run_dev_is_refused_for_a_public_url(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRONTDESK_ENV")
    monkeypatch.setenv("FRONTDESK_PUBLIC_URL", "https://chat.example.org")
    result = CliRunner().invoke(app, ["run", "--dev", "--no-rasa"])
    assert result.exit_code == 2
    assert "refusing development mode for the public URL https://chat.example.org" in result.output
    assert not (data_dir / "frontdesk.db").exists()


def test_make_run_asks_for_development_mode() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "run"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert ".venv/bin/frontdesk run --dev" in dry_run.stdout


def test_migrate_waits_for_the_database_then_gives_up(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A migration Job started before PostgreSQL listens: it retries for --wait seconds.
    from tests.twilio_fake import free_port

    nobody = f"postgresql+psycopg://frontdesk@127.0.0.1:{free_port()}/frontdesk"
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", nobody)
    get_settings.cache_clear()
    started = time.monotonic()
    result = CliRunner().invoke(app, ["migrate", "--wait", "2"])
    assert result.exit_code != 0
    assert time.monotonic() - started >= 2
    monkeypatch.delenv("FRONTDESK_DATABASE_URL")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["migrate", "--wait", "5"])
    assert result.exit_code == 0, result.output
