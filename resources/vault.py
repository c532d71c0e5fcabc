"""Secrets at rest: Fernet encryption of the secret fields of stored configs.

`HEADWATER_ENCRYPTION_KEYS` holds one or more Fernet keys, comma-separated; the first
encrypts and all decrypt (MultiFernet), so keys rotate by putting a new one first. Without
it, development uses a key generated into the home folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from resources.dev_secrets import development_secret
from resources.settings import Settings

KEY_FILE = "encryption_key"
KEYS_VARIABLE = "HEADWATER_ENCRYPTION_KEYS"
SEALED = "$sealed"
MASK = "********"


class VaultError(Exception):
    """A sealed value that none of the configured keys can open."""


@dataclass(frozen=True)
class Vault:
    """Encrypts and decrypts secret values with the configured keys."""

    fernet: MultiFernet

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """The vault of these settings."""
        keys = settings.encryption_keys
        return cls.open(keys.get_secret_value() if keys else None, home=settings.resolved_home)

    @classmethod
    def open(cls, keys: str | None, *, home: Path) -> Vault:
        """A vault over comma-separated Fernet `keys`, or a development key kept in `home`."""
        raw = keys or development_secret(
            home / KEY_FILE,
            variable=KEYS_VARIABLE,
            generate=lambda: Fernet.generate_key().decode(),
        )
        fernets = [Fernet(key.strip()) for key in raw.split(",") if key.strip()]
        return cls(fernet=MultiFernet(fernets))

    def seal(self, config: Mapping[str, Any], secret_fields: Iterable[str]) -> dict[str, Any]:
        """A copy of `config` whose secret fields are encrypted."""
        sealed = dict(config)
        for name in secret_fields:
            if isinstance(sealed.get(name), str):
                sealed[name] = self.seal_value(sealed[name])
        return sealed

    def unseal(self, config: Mapping[str, Any], secret_fields: Iterable[str]) -> dict[str, Any]:
        """A copy of `config` with its secret fields decrypted, for handing to a connector."""
        opened = dict(config)
        for name in secret_fields:
            value = opened.get(name)
            if isinstance(value, dict) and SEALED in value:
                opened[name] = self.open_value(value, name=f"config.{name}")
        return opened

    def reseal(self, value: Any) -> tuple[Any, int]:
        """`value` (any JSON) with every sealed secret in it re-encrypted under the first key.

        Returns:
            The new value and how many secrets it holds.

        Raises:
            VaultError: A sealed secret that none of the keys can open.
        """
        if isinstance(value, dict) and set(value) == {SEALED}:
            try:
                return {SEALED: self.fernet.rotate(value[SEALED].encode()).decode()}, 1
            except InvalidToken as error:
                raise VaultError("a sealed secret cannot be decrypted with the keys") from error
        if isinstance(value, dict):
            pairs = {key: self.reseal(item) for key, item in value.items()}
            return {k: v for k, (v, _) in pairs.items()}, sum(n for _, n in pairs.values())
        if isinstance(value, list):
            items = [self.reseal(item) for item in value]
            return [v for v, _ in items], sum(n for _, n in items)
        return value, 0

    def seal_value(self, secret: str) -> dict[str, str]:
        """One secret encrypted, as stored: `{"$sealed": token}`."""
        return {SEALED: self.fernet.encrypt(secret.encode()).decode()}

    def open_value(self, sealed: Mapping[str, Any], *, name: str) -> str:
        """The secret inside a `seal_value` result; `name` says which one in errors.

        Raises:
            VaultError: None of the configured keys can open it.
        """
        try:
            return self.fernet.decrypt(str(sealed[SEALED]).encode()).decode()
        except (InvalidToken, KeyError) as error:
            raise VaultError(f"{name} cannot be decrypted with the configured keys") from error


def mask(config: Mapping[str, Any], secret_fields: Iterable[str]) -> dict[str, Any]:
    """A copy of `config` safe to show: secret fields replaced by a mask."""
    shown = dict(config)
    for name in secret_fields:
        if name in shown:
            shown[name] = MASK
    return shown
