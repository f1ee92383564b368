"""Settings: defaults run locally; anything but development refuses placeholder secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from frontdesk.settings import PROJECT_ROOT, Settings

REAL = {"secret_key": "s" * 32, "internal_token": "i" * 32, "rasa_token": "r" * 32}


@pytest.fixture(autouse=True)
def _no_frontdesk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: CI's own FRONTDESK_* variables must not leak in."""
    for name in [n for n in os.environ if n.startswith("FRONTDESK_")]:
        monkeypatch.delenv(name)


def test_development_defaults_use_embedded_sqlite(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, env="development", data_dir=tmp_path)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / 'frontdesk.db'}"
    assert settings.tracker_store_url.endswith("rasa-tracker.db")
    assert settings.models_dir == tmp_path / "models"
    assert settings.base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize("env", ["production", "test"])
@pytest.mark.parametrize("weak", ["secret_key", "internal_token", "rasa_token"])
@pytest.mark.parametrize("value", ["change-me", "", "dev-only-not-secret"])
def test_placeholder_secrets_are_refused_outside_development(
    env: str, weak: str, value: str
) -> None:
    with pytest.raises(ValidationError, match=f"FRONTDESK_{weak.upper()}"):
        Settings(_env_file=None, env=env, **{**REAL, weak: value})  # type: ignore[arg-type]


def test_real_secrets_are_accepted_and_never_printed() -> None:
    settings = Settings(_env_file=None, env="production", **REAL)  # type: ignore[arg-type]
    shown = repr(settings) + str(settings.model_dump())
    assert "s" * 32 not in shown and "**********" in shown


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("FRONTDESK_PUBLIC_URL", "https://chat.example.org/")
    monkeypatch.setenv("FRONTDESK_HOST", "0.0.0.0")
    settings = Settings(_env_file=None, **REAL)  # type: ignore[arg-type]
    assert settings.sqlalchemy_url == "postgresql+psycopg://u@h/db"
    assert settings.base_url == "https://chat.example.org"
    assert settings.internal_base_url == "http://127.0.0.1:8000"


def test_development_on_a_public_interface_needs_real_secrets() -> None:
    with pytest.raises(ValidationError, match=r"listening on 0\.0\.0\.0"):
        Settings(_env_file=None, env="development", host="0.0.0.0")


def test_a_copied_env_example_means_defaults(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "FRONTDESK_DATABASE_URL=\nFRONTDESK_MODEL_CACHE_DIR=\n"
        "FRONTDESK_DATA_DIR=./var\nFRONTDESK_RASA_VENV=./.venv-rasa\n"
    )
    settings = Settings(_env_file=env_file, **REAL)  # type: ignore[arg-type]
    assert settings.database_url is None and settings.model_cache_dir is None
    assert settings.data_dir == PROJECT_ROOT / "var"  # relative paths mean the checkout
    assert settings.rasa_venv == PROJECT_ROOT / ".venv-rasa"
    shown = repr(Settings(_env_file=None, database_url="postgresql://u:pw@h/d", **REAL))  # type: ignore[arg-type]
    assert "postgresql" not in shown


def test_production_is_the_default_and_refuses_the_placeholders() -> None:
    # A fresh clone's `frontdesk run` (not `make run`) must not serve on known secrets.
    with pytest.raises(ValidationError, match="placeholder secrets"):
        Settings(_env_file=None)
    assert Settings(_env_file=None, **REAL).env == "production"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "public_url", ["https://chat.example.org", "http://192.0.2.10:8000", "http://0.0.0.0:8000"]
)
def test_development_is_refused_for_a_public_url_that_is_not_loopback(public_url: str) -> None:
    # Real secrets do not help: the sandbox would show every text, codes included.
    with pytest.raises(ValidationError, match="refusing development mode"):
        Settings(_env_file=None, env="development", public_url=public_url, **REAL)  # type: ignore[arg-type]


@pytest.mark.parametrize("public_url", ["", "http://localhost:8000", "http://127.0.0.2:9000"])
def test_development_on_loopback_keeps_the_demo_defaults(public_url: str) -> None:
    settings = Settings(_env_file=None, env="development", public_url=public_url)
    assert settings.secret_key.get_secret_value() == "dev-only-not-secret"
    assert {"localhost", "127.0.0.1"} <= set(settings.trusted_hosts)


def test_api_docs_are_off_in_production_unless_enabled() -> None:
    assert not Settings(_env_file=None, **REAL).serves_api_docs  # type: ignore[arg-type]
    enabled = Settings(_env_file=None, api_docs_enabled=True, **REAL)  # type: ignore[arg-type]
    assert enabled.serves_api_docs
    assert Settings(_env_file=None, env="development").serves_api_docs


def test_a_moved_test_clock_is_refused_in_production() -> None:
    # The fault suite moves the outreach process's clock; a moved production clock would
    # text patients at the wrong hour.
    with pytest.raises(ValidationError, match="refused in production"):
        Settings(_env_file=None, env="production", test_clock_offset_seconds=60, **REAL)  # type: ignore[arg-type]
    moved = Settings(_env_file=None, env="test", test_clock_offset_seconds=60, **REAL)  # type: ignore[arg-type]
    assert moved.test_clock_offset_seconds == 60


def test_postgres_pool_sizes_are_explicit() -> None:
    settings = Settings(
        _env_file=None,
        env="test",
        database_url="postgresql+psycopg://u:pw@h/d",
        database_pool_size=3,
        database_max_overflow=2,
        **REAL,  # type: ignore[arg-type]
    )
    assert settings.engine_options == {"pool_size": 3, "max_overflow": 2}
    assert Settings(_env_file=None, env="test", **REAL).engine_options == {}  # type: ignore[arg-type]


def test_every_setting_is_named_in_env_example() -> None:
    # .env.example is where an operator finds every setting: a new field must appear there.
    example = (PROJECT_ROOT / ".env.example").read_text()
    missing = [n for n in Settings.model_fields if f"FRONTDESK_{n.upper()}" not in example]
    assert missing == []
