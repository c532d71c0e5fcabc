"""The signing key: required in production, generated once per home in development."""

from __future__ import annotations

import secrets
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from api.auth import InvalidToken, decode_token, mint_token, signing_secret
from resources.instance_config import DEPLOY_INSTANCE_YAML
from resources.settings import Settings


def test_production_uses_the_given_secret_and_generates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "HEADWATER_DAGSTER_POSTGRES_URL", "postgresql+psycopg2://db.internal/dagster"
    )
    monkeypatch.setenv("HEADWATER_MAX_CONCURRENT_RUNS", "8")
    with pytest.raises(ValidationError, match="HEADWATER_JWT_SECRET is unset"):
        Settings(home=tmp_path, environment="production")
    key = secrets.token_urlsafe(32)
    settings = Settings(
        home=tmp_path,
        environment="production",
        jwt_secret=SecretStr(key),
        encryption_keys=SecretStr(Fernet.generate_key().decode()),
        database_url="postgresql+psycopg://headwater@db.internal/headwater",
        dagster_yaml=DEPLOY_INSTANCE_YAML,
    )
    assert signing_secret(settings) == key
    assert not (tmp_path / "jwt_secret").exists()


def test_development_generates_one_private_key_per_home(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path)
    first = signing_secret(settings)
    assert "HEADWATER_JWT_SECRET is unset: generated a development secret" in caplog.text
    assert signing_secret(Settings(home=tmp_path)) == first and len(first) >= 32
    assert stat.S_IMODE((tmp_path / "jwt_secret").stat().st_mode) == 0o600
    assert signing_secret(Settings(home=tmp_path / "other")) != first
    token = mint_token(first, user="dev", tenant="acme", ttl=timedelta(minutes=1))
    user = decode_token(first, token)
    assert (user.id, user.tenant) == ("dev", "acme")
    with pytest.raises(InvalidToken):
        decode_token(signing_secret(Settings(home=tmp_path / "other")), token)
