"""What production refuses: every problem of a configuration, named in one message."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from resources.instance_config import dagster_storage_problems, instance_yaml

if TYPE_CHECKING:
    from resources.settings import Settings

MIN_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 10
# Words of example and placeholder values (lowercase, letters and digits only).
PLACEHOLDER_WORDS = (
    "changeme",
    "changethis",
    "replaceme",
    "placeholder",
    "example",
    "secret",
    "password",
    "default",
)


def production_problems(settings: Settings) -> list[str]:
    """Why these settings may not serve production (empty: they may)."""
    problems = _secret_problems("HEADWATER_JWT_SECRET", settings.jwt_secret, required=True)
    problems += _secret_problems("HEADWATER_SERVICE_TOKEN", settings.service_token)
    if settings.encryption_keys is None:
        problems.append(
            "HEADWATER_ENCRYPTION_KEYS is unset: generate a key with `headwater keys generate`"
        )
    problems += _metadata_store_problems(settings.database_url)
    problems += dagster_storage_problems(instance_yaml(settings.dagster_yaml))
    return problems


def _secret_problems(
    variable: str, secret: SecretStr | None, *, required: bool = False
) -> list[str]:
    """A shared secret must be long and random; `required` ones must be there."""
    if secret is None:
        return [f"{variable} is unset"] if required else []
    value = secret.get_secret_value()
    if len(value) < MIN_SECRET_CHARS:
        return [f"{variable} has fewer than {MIN_SECRET_CHARS} characters"]
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    if len(set(value)) < MIN_DISTINCT_CHARS or any(w in letters for w in PLACEHOLDER_WORDS):
        return [f"{variable} looks like a placeholder: use a random value (openssl rand -hex 32)"]
    return []


def _metadata_store_problems(database_url: str | None) -> list[str]:
    if database_url is None:
        return ["HEADWATER_DATABASE_URL is unset, so the metadata store would be SQLite"]
    if make_url(database_url).get_backend_name() == "sqlite":
        return ["HEADWATER_DATABASE_URL names SQLite: use PostgreSQL (postgresql+psycopg://...)"]
    return []
