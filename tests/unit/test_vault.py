"""Secrets in source configs: sealed at rest, opened for connectors, masked when shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from resources.source_configs import opened_config, sealed_config, shown_config
from resources.vault import MASK, Vault, VaultError

GITHUB = {"owner": "octo", "repo": "hello", "token": "ghp_secret_value"}


def test_secret_fields_are_sealed_opened_and_masked(tmp_path: Path) -> None:
    vault = Vault.open(Fernet.generate_key().decode(), home=tmp_path)
    stored = sealed_config(vault, "github", dict(GITHUB))
    assert "ghp_secret_value" not in json.dumps(stored)
    assert stored["owner"] == "octo"
    assert opened_config(vault, "github", stored) == GITHUB
    assert shown_config("github", stored) == {**GITHUB, "token": MASK}


def test_keys_rotate_and_an_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = sealed_config(Vault.open(old, home=tmp_path), "github", dict(GITHUB))
    rotated = Vault.open(f"{new},{old}", home=tmp_path)
    assert opened_config(rotated, "github", stored)["token"] == "ghp_secret_value"
    with pytest.raises(VaultError, match=r"config\.token cannot be decrypted"):
        opened_config(Vault.open(new, home=tmp_path), "github", stored)


def test_development_key_is_created_once_in_home(tmp_path: Path) -> None:
    first = Vault.open(None, home=tmp_path)
    stored = first.seal({"token": "t"}, ["token"])
    key_file = tmp_path / "encryption_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert Vault.open(None, home=tmp_path).unseal(stored, ["token"]) == {"token": "t"}
