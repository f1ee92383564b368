"""Training and starting Rasa, which lives in its own Python 3.10 environment.

Models are cached by the content of `bot/` (training data, domain, config) and the Rasa lock
file: a model is retrained only when one of those changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from frontdesk.settings import PROJECT_ROOT, Settings

logger = logging.getLogger(__name__)

BOT_DIR = PROJECT_ROOT / "bot"
RASA_LOCK = PROJECT_ROOT / "requirements" / "rasa.lock"
RASA_CHANNELS_DIR = BOT_DIR / "channels"
RASA_COMPONENTS_DIR = BOT_DIR / "components"
# What Rasa imports from us: the channel module credentials.yml names, the NLU components
# config.yml names, and the project root for `knowledge.embeddings` (the dense featurizer).
RASA_PYTHONPATH = (RASA_CHANNELS_DIR, RASA_COMPONENTS_DIR, PROJECT_ROOT)
# What the trained model depends on; tests/, endpoints and credentials do not change it.
TRAINING_INPUTS = ("config.yml", "domain", "data", "components")
# Outside bot/: the Rasa environment's locks and the embedding code the featurizer runs.
TRAINING_DEPENDENCIES = (
    RASA_LOCK,
    PROJECT_ROOT / "requirements" / "rasa-extra.lock",
    PROJECT_ROOT / "knowledge" / "embeddings.py",
)


class RasaSetupError(RuntimeError):
    """The Rasa environment or model is missing and cannot be made."""


def bot_content_hash(
    bot_dir: Path = BOT_DIR, dependencies: tuple[Path, ...] = TRAINING_DEPENDENCIES
) -> str:
    """A digest of everything a trained model depends on."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for entry in TRAINING_INPUTS:
        path = bot_dir / entry
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and _is_source(p)))
        elif path.exists():
            files.append(path)
    files.extend(path for path in dependencies if path.exists())
    for path in files:
        label = path.relative_to(bot_dir).as_posix() if path.is_relative_to(bot_dir) else path.name
        digest.update(label.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _is_source(path: Path) -> bool:
    """Whether a file under bot/ is a training input (not Python's bytecode cache)."""
    return "__pycache__" not in path.parts


def model_path(settings: Settings, content_hash: str | None = None) -> Path:
    """Where the model for the current `bot/` content lives (or will)."""
    content_hash = content_hash or bot_content_hash()
    return settings.models_dir / f"frontdesk-{content_hash[:20]}.tar.gz"


def rasa_executable(settings: Settings) -> Path:
    """The `rasa` command of the Python 3.10 environment."""
    executable = settings.rasa_venv / "bin" / "rasa"
    if not executable.exists():
        raise RasaSetupError(
            f"Rasa is not installed at {settings.rasa_venv}; run `make setup` first."
        )
    return executable


def rasa_environment(settings: Settings) -> dict[str, str]:
    """Environment for Rasa commands: telemetry off, `${VAR}`s of endpoints/credentials set."""
    base = settings.internal_base_url
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "RASA_CACHE_DIRECTORY": str(settings.data_dir / "rasa-cache"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "FRONTDESK_ACTION_ENDPOINT_URL": f"{base}/internal/rasa/actions",
            "FRONTDESK_CALLBACK_URL": f"{base}/internal/rasa/callback",
            "FRONTDESK_INTERNAL_TOKEN": settings.internal_token.get_secret_value(),
            "FRONTDESK_RASA_TRACKER_URL": settings.tracker_store_url,
            "PYTHONPATH": os.pathsep.join(
                [*(str(p) for p in RASA_PYTHONPATH), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
    )
    for name, value in redis_lock_store_variables(settings.redis_url).items():
        env.setdefault(name, value)  # explicit FRONTDESK_REDIS_* in the environment win
    return env


def redis_lock_store_variables(redis_url: str) -> dict[str, str]:
    """`bot/endpoints.scale.yml`'s lock-store variables, from the service's Redis URL.

    Rasa's Redis lock store takes host, port, db and password separately; every variable must
    be set (Rasa refuses a file with an unset one), so without a Redis URL they get the local
    defaults. The lock store uses its own database number (1) beside our pub/sub channels.
    """
    parts = urlsplit(redis_url) if redis_url else None
    return {
        "FRONTDESK_REDIS_HOST": (parts.hostname if parts else None) or "127.0.0.1",
        "FRONTDESK_REDIS_PORT": str((parts.port if parts else None) or 6379),
        "FRONTDESK_REDIS_DB": "1",
        "FRONTDESK_REDIS_PASSWORD": unquote(parts.password or "") if parts else "",
    }


def ensure_model(settings: Settings, *, force: bool = False) -> Path:
    """Return the model for the current `bot/`, training it first if it is not cached."""
    content_hash = bot_content_hash()
    target = model_path(settings, content_hash)
    if target.exists() and not force:
        logger.info("rasa model up to date: %s", target.name)
        return target
    rasa = rasa_executable(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "rasa-cache").mkdir(parents=True, exist_ok=True)
    logger.info("bot/ changed since the cached model: training %s", target.name)
    with tempfile.TemporaryDirectory(dir=target.parent) as out:
        subprocess.run(  # noqa: S603 - fixed arguments, our own executable
            [
                str(rasa),
                "train",
                "--config", str(BOT_DIR / "config.yml"),
                "--domain", str(BOT_DIR / "domain"),
                "--data", str(BOT_DIR / "data"),
                "--out", out,
                "--fixed-model-name", "model",
            ],
            check=True,
            cwd=settings.data_dir,
            env=rasa_environment(settings),
        )  # fmt: skip
        shutil.move(str(Path(out) / "model.tar.gz"), target)
    return target


def rasa_server_command(settings: Settings, model: Path, *, port: int) -> list[str]:
    """The command line that serves `model` on loopback with the HTTP API token-protected."""
    return [
        str(rasa_executable(settings)),
        "run",
        "--enable-api",
        # One argument, "=" joined: a token may start with "-", which argparse would read as
        # the next option (Rasa then exits with "expected one argument").
        f"--auth-token={settings.rasa_token.get_secret_value()}",
        "--interface", "127.0.0.1",
        "--port", str(port),
        "--model", str(model),
        "--endpoints", str(settings.rasa_endpoints),
        "--credentials", str(BOT_DIR / "credentials.yml"),
        "--log-file", str(settings.data_dir / "logs" / "rasa.log"),
    ]  # fmt: skip
