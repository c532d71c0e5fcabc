"""The lake and the vault as Dagster resources: their settings are config the UI shows.

`resources.lake` and `resources.vault` import no Dagster, so the CLI and the API's reads
load neither Dagster nor its dependencies to use them.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from resources.lake import Lake
from resources.vault import Vault


class LakeResource(dg.ConfigurableResource):
    """The lake of runs, sensors and schedules."""

    url: str = Field(description="Root of the lake: a local path, file://, s3://, gs://, ...")
    _lake: Lake | None = PrivateAttr(default=None)

    def get_lake(self) -> Lake:
        """The lake at `url`, made on first use and kept (with its manifest cache) after."""
        if self._lake is None:
            self._lake = Lake(url=self.url)
        return self._lake


class VaultResource(dg.ConfigurableResource):
    """The vault for Dagster runs; give the keys as `dg.EnvVar` so the UI never shows them."""

    # Not `keys`: Dagster turns a resource into a dict, which would call a `keys` attribute.
    encryption_keys: str | None = Field(
        default=None, description="Comma-separated Fernet keys (HEADWATER_ENCRYPTION_KEYS)."
    )
    home: str = Field(description="Where the development key lives when no keys are given.")

    def get_vault(self) -> Vault:
        """The vault over these keys."""
        return Vault.open(self.encryption_keys, home=Path(self.home))
