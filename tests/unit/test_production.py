"""Production refuses SQLite, missing keys and placeholder secrets, naming every problem at once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from pydantic import SecretStr, ValidationError

from connector_assets.definitions import build_definitions
from resources.instance_config import DEFAULT_INSTANCE_YAML, DEPLOY_INSTANCE_YAML
from resources.settings import InvalidSettings, Settings, get_settings

POSTGRES = "postgresql+psycopg://headwater@db.internal:5432/headwater"
PLACEHOLDERS = (
    "changeme",
    "secret",
    "change-me-in-production-please-now",
    "your-super-secret-jwt-key-goes-here",
    "x" * 48,
    "abcabcabcabcabcabcabcabcabcabcabcabc",
)


@pytest.fixture(autouse=True)
def no_headwater_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: no HEADWATER_* or DAGSTER_HOME of the caller's."""
    for name in list(os.environ):
        if name.startswith("HEADWATER_") or name == "DAGSTER_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv(
        "HEADWATER_DAGSTER_POSTGRES_URL", "postgresql+psycopg2://db.internal/dagster"
    )
    monkeypatch.setenv("HEADWATER_MAX_CONCURRENT_RUNS", "8")


def ready(**changes: Any) -> dict[str, Any]:
    """Settings that production accepts, with `changes`."""
    return {
        "environment": "production",
        "jwt_secret": SecretStr(secrets.token_hex(32)),
        "encryption_keys": SecretStr(Fernet.generate_key().decode()),
        "database_url": POSTGRES,
        "dagster_yaml": DEPLOY_INSTANCE_YAML,
        **changes,
    }


def refusal(**changes: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        Settings(**ready(**changes))
    return str(raised.value)


def test_a_safe_configuration_starts() -> None:
    settings = Settings(**ready())
    assert settings.environment == "production"


def test_every_problem_is_named_in_one_message(tmp_path: Path) -> None:
    message = refusal(
        home=tmp_path,
        jwt_secret=None,
        encryption_keys=None,
        database_url=None,
        dagster_yaml=None,
        service_token=SecretStr("short"),
    )
    assert "HEADWATER_ENVIRONMENT=production refuses to start" in message
    for problem in (
        "HEADWATER_JWT_SECRET is unset",
        "HEADWATER_SERVICE_TOKEN has fewer than 32 characters",
        "HEADWATER_ENCRYPTION_KEYS is unset",
        "HEADWATER_DATABASE_URL is unset, so the metadata store would be SQLite",
        f"the Dagster instance ({DEFAULT_INSTANCE_YAML}) keeps its runs, event log and "
        "schedules in SQLite",
    ):
        assert problem in message


def test_a_sqlite_metadata_store_is_refused(tmp_path: Path) -> None:
    message = refusal(database_url=f"sqlite:///{tmp_path / 'meta.db'}")
    assert "HEADWATER_DATABASE_URL names SQLite: use PostgreSQL" in message


@pytest.mark.parametrize(
    ("config", "refused"),
    [
        ("telemetry:\n  enabled: false\n", ["runs, event log and schedules"]),
        (
            "storage:\n  sqlite:\n    base_dir: /var/dagster\n",
            ["runs, event log and schedules"],
        ),
        (
            "run_storage:\n  module: dagster_postgres.run_storage\n"
            "  class: PostgresRunStorage\n  config: {postgres_url: postgresql://h/d}\n",
            ["event log storage", "schedule storage"],
        ),
    ],
)
def test_a_dagster_instance_on_sqlite_is_refused(
    tmp_path: Path, config: str, refused: list[str]
) -> None:
    path = tmp_path / "dagster.yaml"
    path.write_text(config)
    message = refusal(dagster_yaml=path)
    assert [what for what in refused if f"keeps its {what} in SQLite" in message] == refused
    assert message.count("in SQLite") == len(refused)


def test_the_dagster_instance_needs_the_variables_it_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HEADWATER_DAGSTER_POSTGRES_URL")
    message = refusal()
    assert "HEADWATER_DAGSTER_POSTGRES_URL is unset (the Dagster instance" in message
    assert "HEADWATER_MAX_CONCURRENT_RUNS" not in message


@pytest.mark.parametrize("url", ["postgresql://db.internal/dagster", "postgresql+psycopg://h/d"])
def test_the_dagster_instance_must_use_psycopg2(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("HEADWATER_DAGSTER_POSTGRES_URL", url)
    assert "HEADWATER_DAGSTER_POSTGRES_URL must name the psycopg2 driver" in refusal()


def test_an_operators_own_dagster_home_is_the_instance_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dagster.yaml").write_text(DEPLOY_INSTANCE_YAML.read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert Settings(**ready(dagster_yaml=None)).dagster_yaml is None
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert f"the Dagster instance ({tmp_path / 'dagster.yaml'}) keeps" in refusal(dagster_yaml=None)


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_placeholder_and_short_jwt_secrets_are_refused(placeholder: str) -> None:
    message = refusal(jwt_secret=SecretStr(placeholder))
    assert (
        "HEADWATER_JWT_SECRET looks like a placeholder" in message
        or "HEADWATER_JWT_SECRET has fewer than 32 characters" in message
    )
    assert placeholder not in message


def test_the_refusal_never_shows_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_ENVIRONMENT", "production")
    monkeypatch.setenv("HEADWATER_JWT_SECRET", "hunter2-is-my-password")
    get_settings.cache_clear()
    with pytest.raises(InvalidSettings) as raised:
        get_settings()
    get_settings.cache_clear()
    assert "hunter2" not in str(raised.value)
    assert str(raised.value).startswith("HEADWATER_ENVIRONMENT=production refuses to start:\n- ")


def test_headwater_env_is_accepted_and_a_disagreement_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEADWATER_ENV", "production")
    with pytest.raises(ValidationError, match="production refuses to start"):
        Settings()
    monkeypatch.setenv("HEADWATER_ENVIRONMENT", "development")
    with pytest.raises(ValidationError, match="HEADWATER_ENVIRONMENT and HEADWATER_ENV disagree"):
        Settings()
    monkeypatch.setenv("HEADWATER_ENV", "development")
    assert Settings().environment == "development"


def test_dagster_shows_the_store_and_lake_urls_by_variable_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the code location sends the Dagster UI (resource config included) names the
    variables, never the credentials in their URLs."""
    password = secrets.token_hex(8)
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path))
    monkeypatch.setenv("HEADWATER_DATABASE_URL", f"postgresql+psycopg://hw:{password}@db/hw")
    monkeypatch.setenv("HEADWATER_DATA_URL", f"s3://lake/hw?secret_key={password}")
    repository = build_definitions(Settings()).get_repository_def()

    shown = serialize_value(RepositorySnap.from_def(repository))

    assert password not in shown
    assert "HEADWATER_DATABASE_URL" in shown and "HEADWATER_DATA_URL" in shown
