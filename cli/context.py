"""What every CLI command needs: settings, the metadata store and the lake."""

from __future__ import annotations

from functools import cached_property

import click
from sqlalchemy.orm import Session, sessionmaker

from resources.connectors.options import PipelineOptions
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.settings import InvalidSettings, Settings, get_settings
from resources.store.engine import session_factory
from resources.vault import Vault

# The user the CLI acts as, and whose token `headwater up` prints.
CLI_OWNER = "local"
# Where `headwater up` serves the API, when HEADWATER_PUBLIC_URL says nothing else.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class CliContext:
    """Lazily opened handles on Headwater's state, from the environment's settings."""

    @cached_property
    def settings(self) -> Settings:
        """The settings; a command that needs them exits naming every problem they have."""
        try:
            return get_settings()
        except InvalidSettings as error:
            raise click.ClickException(f"invalid configuration:\n{error}") from None

    @cached_property
    def store(self) -> MetadataStore:
        """The metadata store."""
        return MetadataStore(database_url=self.settings.resolved_database_url)

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The metadata store's sessions."""
        return session_factory(self.settings.resolved_database_url)

    @property
    def public_url(self) -> str:
        """Where providers reach the API (webhook and push channel addresses)."""
        return self.settings.public_url or DEFAULT_PUBLIC_URL

    @cached_property
    def lake(self) -> Lake:
        """The lake."""
        return Lake(url=self.settings.resolved_data_url)

    @cached_property
    def vault(self) -> Vault:
        """Encryption of the secrets in source configs."""
        return Vault.from_settings(self.settings)

    @cached_property
    def option_defaults(self) -> PipelineOptions:
        """The deployment's source options."""
        return PipelineOptions.from_settings(self.settings)
