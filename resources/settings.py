"""Process-wide settings, read from the environment when first asked for (never at import)."""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from resources.production import production_problems

ENVIRONMENT_VARIABLES = ("HEADWATER_ENVIRONMENT", "HEADWATER_ENV")
# Bounds of the pipeline settings that a source may also set as options
# (resources/connectors/options.py): a deployment default is always a valid option.
MAX_FILE_BYTES_RANGE = (1, 100 * 1024 * 1024)
CHUNK_MAX_TOKENS_RANGE = (32, 8192)
CHUNK_OVERLAP_TOKENS_RANGE = (0, 1024)
SYNC_INTERVAL_MINUTES_RANGE = (0, 30 * 24 * 60)


class Settings(BaseSettings):
    """Headwater's configuration; every field maps to a `HEADWATER_*` variable."""

    model_config = SettingsConfigDict(
        env_prefix="HEADWATER_",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # the input holds the secrets
    )

    home: Path = Field(
        default=Path(".headwater"),
        description="Holds the Dagster home, the SQLite metadata db and the lake by default.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the metadata store; SQLite in home if unset."
    )
    data_url: str | None = Field(
        default=None, description="Root of the Parquet lake (a path or object-store URL)."
    )
    chunk_max_tokens: int = Field(
        default=512,
        ge=CHUNK_MAX_TOKENS_RANGE[0],
        le=CHUNK_MAX_TOKENS_RANGE[1],
        description="Token budget of one chunk.",
    )
    chunk_overlap_tokens: int = Field(
        default=64,
        ge=CHUNK_OVERLAP_TOKENS_RANGE[0],
        le=CHUNK_OVERLAP_TOKENS_RANGE[1],
        description="Overlap of forced splits, in tokens.",
    )
    max_file_bytes: int = Field(
        default=5_000_000,
        ge=MAX_FILE_BYTES_RANGE[0],
        le=MAX_FILE_BYTES_RANGE[1],
        description="Larger files are skipped.",
    )
    sync_interval_minutes: int = Field(
        default=0,
        ge=SYNC_INTERVAL_MINUTES_RANGE[0],
        le=SYNC_INTERVAL_MINUTES_RANGE[1],
        description=(
            "Minutes between a source's scheduled incremental syncs, counted from its last sync "
            "request of any kind; 0: none (a source or its connection may set its own)."
        ),
    )
    environment: Literal["development", "production"] = Field(
        default="development",
        validation_alias=AliasChoices(*ENVIRONMENT_VARIABLES),
        description=(
            "Production refuses SQLite, missing keys and placeholder secrets; nothing is "
            "generated. `HEADWATER_ENV` is accepted too."
        ),
    )
    dagster_yaml: Path | None = Field(
        default=None,
        description=(
            "The Dagster instance config (deploy/dagster.yaml in production); the embedded "
            "SQLite one if unset."
        ),
    )
    executor: Literal["in_process", "celery"] = Field(
        default="in_process",
        description=(
            "How a sync run executes its steps: in the run's own process, or as tasks on "
            "Celery workers (dagster-celery; needs HEADWATER_CELERY_BROKER_URL)."
        ),
    )
    celery_broker_url: SecretStr | None = Field(
        default=None,
        description="Broker the Celery workers listen to (pyamqp://USER:PASSWORD@HOST:5672/VHOST).",
    )
    celery_backend_url: SecretStr | None = Field(
        default=None, description="Celery result backend; `rpc://` (through the broker) if unset."
    )
    celery_queue: str = Field(
        default="dagster",
        min_length=1,
        description="Celery queue a sync's steps are sent to; start the workers with `-q` on it.",
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 key of API bearer tokens; in development, generated into home if unset.",
    )
    service_token: SecretStr | None = Field(
        default=None,
        description=(
            "Shared secret of internal callers, sent as X-Service-Token with X-User-Id "
            "(and X-Tenant-Id); service calls are refused while it is unset."
        ),
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated Fernet keys: the first encrypts, all decrypt (rotation).",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for rate-limit counters; the metadata store if unset."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser."
    )
    rate_limit_create_source: str = Field(
        default="10/hour", description="Per user, for `POST /sources` (limits notation)."
    )
    rate_limit_sync: str = Field(
        default="5 per 15 minutes", description="Per user, for `POST /sources/:id/sync`."
    )
    rate_limit_default: str = Field(
        default="100/minute", description="Per user, for every other authenticated route."
    )
    files_page_cache: int = Field(
        default=512,
        ge=0,
        description="Pages of `GET /sources/:id/files` kept in memory per API process (0: none).",
    )
    egress_allowed_networks: list[str] = Field(
        default_factory=list,
        description=(
            "JSON list of CIDRs user-named hosts may resolve to even when private "
            "(production refuses loopback and private ranges otherwise)."
        ),
    )
    rate_limit_webhook: str = Field(
        default="1000/minute",
        description=(
            "Per source owner, for verified `POST /webhooks/*` deliveries; past it they get "
            "503 with Retry-After (never a 4xx, which would make GitLab disable the hook)."
        ),
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1, description="Larger request bodies get 413."
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "Base URL providers and browsers reach the API at (webhook URLs, OAuth "
            "callbacks); the URL of the request at hand if unset."
        ),
    )
    oauth_redirect_uris: list[str] = Field(
        default_factory=list,
        description="Where `GET /oauth/:provider?redirect_uri=` may send the browser back (exact).",
    )
    reconcile_interval_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description=(
            "How often the reconcile schedule compares each code-host source's synced commit "
            "with its branch head; divides 60, or is whole hours dividing 24."
        ),
    )

    push_channel_ttl_hours: int = Field(
        default=168,
        ge=2,
        le=8760,
        description=(
            "How long a push channel (Google Drive changes.watch) is asked to live; Drive "
            "keeps one a week at most."
        ),
    )
    push_channel_renew_within_hours: int = Field(
        default=24,
        ge=2,
        description=(
            "The hourly renewal schedule replaces channels expiring within this many hours; "
            "smaller than HEADWATER_PUSH_CHANNEL_TTL_HOURS."
        ),
    )

    @field_validator("egress_allowed_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            ipaddress.ip_network(network, strict=False)  # raises ValueError naming it
        return networks

    @model_validator(mode="after")
    def _overlap_below_budget(self) -> Settings:
        if self.chunk_overlap_tokens >= self.chunk_max_tokens:
            raise ValueError(
                "HEADWATER_CHUNK_OVERLAP_TOKENS must be smaller than HEADWATER_CHUNK_MAX_TOKENS"
            )
        return self

    @model_validator(mode="after")
    def _reconcile_interval_fits_a_cron(self) -> Settings:
        interval_cron(self.reconcile_interval_minutes)
        return self

    @model_validator(mode="after")
    def _channels_renewed_before_they_expire(self) -> Settings:
        if self.push_channel_renew_within_hours >= self.push_channel_ttl_hours:
            raise ValueError(
                "HEADWATER_PUSH_CHANNEL_RENEW_WITHIN_HOURS must be smaller than "
                "HEADWATER_PUSH_CHANNEL_TTL_HOURS"
            )
        return self

    @model_validator(mode="after")
    def _celery_has_a_broker(self) -> Settings:
        if self.executor == "celery" and self.celery_broker_url is None:
            raise ValueError(
                "HEADWATER_CELERY_BROKER_URL is unset: HEADWATER_EXECUTOR=celery sends steps "
                "to the broker its workers listen to"
            )
        return self

    @model_validator(mode="after")
    def _one_environment(self) -> Settings:
        given = {os.environ[name] for name in ENVIRONMENT_VARIABLES if name in os.environ}
        if len(given) > 1:
            raise ValueError("HEADWATER_ENVIRONMENT and HEADWATER_ENV disagree: set one of them")
        return self

    @model_validator(mode="after")
    def _ready_for_production(self) -> Settings:
        if self.environment == "production":
            problems = production_problems(self)
            if problems:
                raise ValueError(
                    "HEADWATER_ENVIRONMENT=production refuses to start:\n"
                    + "\n".join(f"- {problem}" for problem in problems)
                )
        return self

    @property
    def resolved_home(self) -> Path:
        """The home folder as an absolute path."""
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The metadata store URL, defaulting to a SQLite file in home."""
        return self.database_url or f"sqlite:///{self.resolved_home / 'headwater.db'}"

    @property
    def resolved_data_url(self) -> str:
        """The lake root, defaulting to `home/lake`."""
        return self.data_url or str(self.resolved_home / "lake")

    @property
    def reconcile_cron(self) -> str:
        """The cron schedule of `reconcile_interval_minutes` (`*/15 * * * *`)."""
        return interval_cron(self.reconcile_interval_minutes)

    @property
    def push_channel_ttl(self) -> timedelta:
        """How long a push channel is asked to live."""
        return timedelta(hours=self.push_channel_ttl_hours)

    @property
    def push_channel_renew_within(self) -> timedelta:
        """Channels expiring sooner than this are replaced."""
        return timedelta(hours=self.push_channel_renew_within_hours)

    @property
    def cache_dir(self) -> Path:
        """Per-source working copies (git clones) live here; safe to delete."""
        return self.resolved_home / "cache"


def interval_cron(minutes: int) -> str:
    """A cron schedule firing every `minutes` (`*/15 * * * *`, `0 */2 * * *`).

    Raises:
        ValueError: The interval neither divides an hour nor is whole hours dividing a day.
    """
    if 0 < minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    hours, rest = divmod(minutes, 60)
    if minutes >= 60 and rest == 0 and 24 % hours == 0:
        return f"0 */{hours} * * *"
    raise ValueError(
        "HEADWATER_RECONCILE_INTERVAL_MINUTES must divide 60 (1, 5, 15, 30, ...) or be "
        f"whole hours dividing 24 (60, 120, ..., 1440), not {minutes}"
    )


class InvalidSettings(ValueError):
    """The environment's settings cannot be used; the message names every problem."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process.

    Raises:
        InvalidSettings: Some variable is malformed, or production is refused.
    """
    try:
        return Settings()
    except ValidationError as error:
        raise InvalidSettings("\n".join(_problem(e) for e in error.errors())) from None


def _problem(error: Any) -> str:
    """One validation error as the variable it is about and what is wrong with it."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    name = str(error["loc"][0]).upper()
    return f"{name if name.startswith('HEADWATER_') else 'HEADWATER_' + name}: {message}"
