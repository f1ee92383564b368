"""One typed settings object, read from the environment and `.env`, checked at start-up."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev-only-not-secret"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEV_SECRET = "dev-only-not-secret"  # noqa: S105 - refused outside development


class PlaceholderSecretError(ValueError):
    """Raised when a non-development deployment still uses a placeholder secret."""


class DevelopmentModeError(ValueError):
    """Raised when development mode is asked for where the internet could reach it."""


def is_loopback_host(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Frontdesk configuration. Every field maps to `FRONTDESK_<NAME>` (see `.env.example`)."""

    model_config = SettingsConfigDict(
        env_prefix="FRONTDESK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Production unless told otherwise: development (placeholder secrets, the SMS sandbox, the
    # demo staff accounts) is an explicit choice (`make run` / `frontdesk run --dev`), and only
    # for a loopback public URL. Tests generate real secrets.
    env: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people; json (one object a line) for collectors"
    )
    test_clock_offset_seconds: float = Field(
        default=0.0,
        description="Tests only: move this process's clock by this many seconds (fault "
        "suite: quiet hours ending mid-fan-out); refused in production",
    )

    # Where embedded state lives: the SQLite database, the Rasa tracker store, trained models.
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir", repr=False
    )
    database_pool_size: int = Field(
        default=5, ge=1, description="Connections each process keeps open (PostgreSQL)"
    )
    database_max_overflow: int = Field(
        default=10, ge=0, description="Extra connections a process may open under load"
    )

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        default="", description="URL patients and Twilio reach us at; default http://host:port"
    )
    allowed_hosts: str = Field(
        default="",
        description="Extra Host header names accepted besides the public URL's and the "
        "internal one (comma-separated; e.g. the service name Rasa calls in docker-compose)",
    )
    api_docs_enabled: bool | None = Field(
        default=None,
        description="Serve the OpenAPI docs at /api/docs; default: only outside production",
    )

    secret_key: SecretStr = SecretStr(DEV_SECRET)
    internal_token: SecretStr = Field(
        default=SecretStr(DEV_SECRET),
        description="Shared secret Rasa presents when it calls our action and callback endpoints",
    )

    audit_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of the audit log's hash chain, held outside the database; "
        "default: derived from FRONTDESK_SECRET_KEY (set it to rotate that key freely)",
    )

    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: SecretStr = Field(
        default=SecretStr(DEV_SECRET), description="Rasa HTTP API --auth-token"
    )
    rasa_timeout_seconds: float = 30.0
    turn_workers: int = Field(
        default=4, ge=1, le=64, description="Patient turns handed to Rasa at once (dispatcher)"
    )
    turn_retry_base_seconds: float = Field(
        default=1.0, gt=0, description="First retry of a turn Rasa did not take; doubles, to 30 s"
    )
    turn_answer_limit_seconds: float = Field(
        default=300.0, gt=0, description="A turn unanswered this long goes to staff"
    )
    rasa_venv: Path = PROJECT_ROOT / ".venv-rasa"
    rasa_tracker_url: str | None = Field(
        default=None,
        description="SQLAlchemy 1.4 URL for Rasa's tracker store; default: SQLite in data_dir",
        repr=False,  # URLs carry passwords
    )
    model_cache_dir: Path | None = Field(
        default=None, description="Trained Rasa models, keyed by bot/ content; default data_dir"
    )
    model_registry_file: Path | None = Field(
        default=None,
        description="Model registry (versions, evaluations, promoted); default models_dir",
    )
    reviewed_nlu_file: Path = Field(
        default=PROJECT_ROOT / "bot" / "data" / "nlu" / "reviewed.yml",
        description="Where the console's export writes labelled review items (Rasa NLU YAML)",
    )
    review_confidence_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Turns whose intent confidence is below go to review"
    )
    drift_fallback_margin: float = Field(
        default=0.05, ge=0, le=1, description="Fallback-rate rise over the first week that alerts"
    )
    rasa_endpoints: Path = Field(
        default=PROJECT_ROOT / "bot" / "endpoints.yml",
        description="Rasa endpoints file; bot/endpoints.scale.yml adds a Redis lock store",
    )
    start_rasa: bool = Field(default=True, description="`frontdesk run` also starts Rasa")

    max_message_chars: int = 1000

    # --- Running several processes (docs/operations.md) ---
    redis_url: str = Field(
        default="",
        description="Redis URL for live fan-out between service replicas (web chat frames, "
        "console updates); empty: in-process only, the single-process default",
        repr=False,  # URLs carry passwords
    )
    redis_channel_prefix: str = Field(
        default="frontdesk",
        min_length=1,
        description="Prefix of the Redis pub/sub channels; deployments sharing a Redis differ",
    )
    leader_check_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often a replica re-checks (or tries to take) the leader lock that "
        "lets it run the periodic jobs",
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token Prometheus presents at GET /metrics; empty: /metrics is off",
    )
    ready_max_queue_age_seconds: float = Field(
        default=900.0,
        ge=0,
        description="/readyz fails once an outbox or inbound item waits this long; 0: never",
    )
    rasa_restart_max_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest wait between two restarts of a Rasa child that keeps dying",
    )

    # --- Scheduling, waitlist and EHR write-back ---
    waitlist_batch_size: int = Field(
        default=3,
        ge=1,
        le=50,
        description="Waitlisted patients offered a freed slot at once; the first to accept wins",
    )
    waitlist_offer_minutes: int = Field(
        default=60,
        ge=5,
        description="How long a waitlist offer stays open before the next batch is offered",
    )
    waitlist_days: int = Field(
        default=30,
        ge=1,
        le=180,
        description="How far ahead a waitlist entry with no named days looks",
    )
    # EHR write-back. No FHIR URL: our own database is the system of record.
    ehr_fhir_url: str = Field(
        default="",
        description="FHIR R4 base URL of the practice's EHR (e.g. https://ehr.example/fhir/R4); "
        "empty: no EHR, nothing is written back",
    )
    ehr_auth_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to the EHR's FHIR API, if it needs one"
    )
    ehr_identifier_system: str = Field(
        default="urn:frontdesk",
        description="Prefix of the identifier system we stamp on resources we write; the "
        "system is '<prefix>:<practice slug>', so retries and pulls recognise our own rows",
    )
    ehr_timeout_seconds: float = Field(default=10.0, gt=0, description="Per request to the EHR")
    ehr_outbox_max_attempts: int = Field(
        default=10, ge=1, description="Attempts before an EHR write is dead-lettered for staff"
    )
    ehr_backoff_base_seconds: float = Field(
        default=5.0, gt=0, description="First EHR retry delay; doubles each attempt"
    )
    ehr_backoff_cap_seconds: float = Field(
        default=900.0, gt=0, description="Longest delay between two EHR retries"
    )
    ehr_worker_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often the EHR outbox worker looks for due writes"
    )
    ehr_pull_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often appointments made or cancelled in the EHR are pulled back",
    )

    # --- Identity verification ---

    # --- SMS, outbox and reminders ---
    twilio_account_sid: str = Field(
        default="", description="Twilio Account SID; empty: SMS go to the development sandbox"
    )
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(""), description="Twilio Auth Token (signs webhooks, authenticates API)"
    )
    twilio_api_base_url: str = Field(
        default="https://api.twilio.com",
        description="Twilio REST API base URL; tests and sandboxes point it at a local fake",
    )
    twilio_messaging_service_sid: str = Field(
        default="",
        description="Send through this Messaging Service instead of the practice's own number",
    )
    twilio_timeout_seconds: float = Field(default=10.0, description="Per request to Twilio")
    sms_worker_enabled: bool = Field(
        default=True, description="Run the SMS outbox worker inside the service"
    )
    sms_worker_threads: int = Field(default=8, description="Concurrent sends to Twilio")
    sms_max_attempts: int = Field(
        default=6, description="Send attempts before an SMS is dead-lettered for staff"
    )
    sms_retry_base_seconds: float = Field(
        default=2.0, description="First retry delay; doubles each attempt (5xx, timeouts)"
    )
    sms_claim_lease_seconds: float = Field(
        default=120.0,
        description="A send not recorded within this is checked with Twilio, then retried",
    )
    reminders_enabled: bool = Field(
        default=True, description="Run the reminder and follow-up scheduler inside the service"
    )
    reminder_tick_seconds: int = Field(default=60, description="How often due reminders go out")
    reminder_offsets_minutes: list[int] = Field(
        default=[7 * 24 * 60, 2 * 24 * 60, 120],
        description="Default reminder offsets before an appointment (per-practice override)",
    )
    quiet_hours_start: str = Field(
        default="08:00", description="Outreach window opens (patient-local HH:MM)"
    )
    quiet_hours_end: str = Field(
        default="21:00", description="Outreach window closes (patient-local HH:MM)"
    )

    # --- Knowledge, billing and PHI ---
    kb_dir: Path | None = Field(
        default=None,
        description="Knowledge base store (Chroma collections, one per practice); default "
        "data_dir/knowledge",
    )
    kb_confidence_threshold: float = Field(
        default=0.35,
        ge=0.0,
        le=1.0,
        description="Answers scoring below this (0-1) say 'not sure' and offer a person, for "
        "a knowledge base ingested before per-practice calibration (knowledge/calibrate.py)",
    )
    kb_llm_model: str = Field(
        default="",
        description="Optional langchain chat model ('provider:model', e.g. 'openai:gpt-4o-mini') "
        "that rephrases retrieved passages; empty: extractive answers only",
    )
    payment_link_template: str = Field(
        default="{base_url}/pay/{practice}?ref={account}",
        description="Payment link per practice; placeholders {base_url}, {practice} (slug), "
        "{account} (opaque account reference)",
    )
    tracker_retention_days: int = Field(
        default=30,
        ge=1,
        description="Rasa tracker events older than this many days are deleted by the "
        "retention job",
    )

    @field_validator("kb_dir", mode="before")
    @classmethod
    def _kb_dir_empty_means_default(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() == "":
            return None
        return value

    @field_validator("kb_dir", mode="after")
    @classmethod
    def _kb_dir_anchored(cls, value: Path | None) -> Path | None:
        return value if value is None or value.is_absolute() else (PROJECT_ROOT / value).resolve()

    @property
    def knowledge_dir(self) -> Path:
        """Where the knowledge base's Chroma store lives (never in git)."""
        return self.kb_dir or self.data_dir / "knowledge"

    # --- Staff console, handoff, audit, widget ---
    # Staff sign-in and sessions.
    console_idle_timeout_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="Staff are signed out after this long idle"
    )
    console_session_max_hours: int = Field(
        default=12, ge=1, le=24 * 7, description="A staff session ends this long after sign-in"
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins per account (since its last success, within a day) "
        "before each further attempt waits (exponential backoff; never a lock-out)",
    )
    login_backoff_base_seconds: float = Field(
        default=30.0, gt=0, description="First sign-in delay; doubles with each failure"
    )
    login_backoff_cap_seconds: float = Field(
        default=900.0, gt=0, description="Longest sign-in delay"
    )
    login_max_failures_per_ip: int = Field(
        default=20, ge=1, description="Failed sign-ins per client address within the window"
    )
    login_failure_window_minutes: int = Field(
        default=15, ge=1, description="Window of the per-address failed sign-in throttle"
    )
    session_cookie_secure: bool | None = Field(
        default=None,
        description=(
            "Mark the staff session cookie Secure; default: always, except in development "
            "served over plain http on a loopback host"
        ),
    )

    @field_validator(
        "database_url",
        "rasa_tracker_url",
        "model_cache_dir",
        "model_registry_file",
        "data_dir",
        "rasa_venv",
        "rasa_endpoints",
        mode="before",
    )
    @classmethod
    def _empty_means_default(cls, value: object) -> object:
        # `FRONTDESK_X=` in a copied .env.example means "not set", not "empty". (Never list a
        # field whose default is "" here: defaults are validated too, and it would recurse.)
        if isinstance(value, str) and value.strip() == "":
            raise PydanticUseDefault
        return value

    @field_validator(
        "data_dir",
        "rasa_venv",
        "rasa_endpoints",
        "model_cache_dir",
        "model_registry_file",
        "reviewed_nlu_file",
        mode="after",
    )
    @classmethod
    def _anchor_relative_paths(cls, value: Path | None) -> Path | None:
        # Rasa runs with var/ as its working directory: relative paths mean the checkout.
        if value is None or value.is_absolute():
            return value
        return (PROJECT_ROOT / value).resolve()

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_url_scheme(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("FRONTDESK_REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("metrics_token", mode="after")
    @classmethod
    def _metrics_token_not_a_placeholder(cls, value: SecretStr) -> SecretStr:
        # Empty turns /metrics off; a known placeholder would turn it on for anyone.
        token = value.get_secret_value().strip()
        if token and token.lower() in PLACEHOLDER_SECRETS:
            raise PlaceholderSecretError("FRONTDESK_METRICS_TOKEN is a placeholder")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        # Development on loopback may use the known placeholders; anything else may not.
        if self.env != "development" or self.host not in LOOPBACK_HOSTS:
            weak = [
                name
                for name in ("secret_key", "internal_token", "rasa_token")
                if getattr(self, name).get_secret_value().strip().lower() in PLACEHOLDER_SECRETS
            ]
            if weak:
                raise PlaceholderSecretError(
                    f"refusing to start ({self.env}, listening on {self.host}) with "
                    "placeholder secrets: "
                    + ", ".join(f"FRONTDESK_{name.upper()}" for name in weak)
                    + '. Generate each with: python -c "import secrets; '
                    'print(secrets.token_urlsafe(32))". For the local demo only, use '
                    "`make run` (development mode)."
                )
        return self

    @model_validator(mode="after")
    def _no_test_clock_in_production(self) -> Settings:
        # A moved clock sends reminders at the wrong hour: only tests may ask for one.
        if self.env == "production" and self.test_clock_offset_seconds:
            raise ValueError("FRONTDESK_TEST_CLOCK_OFFSET_SECONDS is refused in production")
        return self

    @model_validator(mode="after")
    def _development_only_on_loopback(self) -> Settings:
        # The sandbox shows every text (codes included) and accepts placeholder secrets: a
        # public URL that is not this machine means the internet could reach it.
        if self.env == "development":
            public = urlsplit(self.base_url).hostname or ""
            if not is_loopback_host(public):
                raise DevelopmentModeError(
                    f"refusing development mode for the public URL {self.base_url}: it is "
                    "for this machine only (http://127.0.0.1 or http://localhost). Set "
                    "FRONTDESK_ENV=production with real secrets to serve anyone else."
                )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The service database URL (SQLAlchemy 2)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'frontdesk.db').resolve()}"

    @property
    def engine_options(self) -> dict[str, int]:
        """Pool sizes for `make_engine` (SQLite's pool ignores them)."""
        if self.sqlalchemy_url.startswith("sqlite"):
            return {}
        return {"pool_size": self.database_pool_size, "max_overflow": self.database_max_overflow}

    @property
    def tracker_store_url(self) -> str:
        """The Rasa tracker store URL (Rasa runs SQLAlchemy 1.4 with psycopg2)."""
        if self.rasa_tracker_url:
            return self.rasa_tracker_url
        return f"sqlite:///{(self.data_dir / 'rasa-tracker.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        """Where trained Rasa models are cached."""
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def registry_file(self) -> Path:
        """The model registry's JSON file."""
        return self.model_registry_file or self.models_dir / "registry.json"

    @property
    def base_url(self) -> str:
        """Public base URL without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def serves_api_docs(self) -> bool:
        """OpenAPI docs are a map for attackers: off in production unless enabled."""
        if self.api_docs_enabled is not None:
            return self.api_docs_enabled
        return self.env != "production"

    @property
    def trusted_hosts(self) -> list[str]:
        """Host header values the service answers to (anything else gets 400).

        The public URL's host, the one Rasa calls back on, any configured extras, and in
        development every loopback name (a tunnel or proxy forwards its own host name, so
        it is refused even though its connections come from loopback).
        """
        hosts = [
            urlsplit(self.base_url).hostname or "",
            urlsplit(self.internal_base_url).hostname or "",
        ]
        hosts += [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        if self.env == "development":
            hosts += sorted(LOOPBACK_HOSTS)
        return list(dict.fromkeys(h for h in hosts if h))

    @property
    def internal_base_url(self) -> str:
        """Where Rasa (on this machine or network) reaches the service."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
