"""What every CLI command needs: settings, the metadata store and the lake, each handle
importing its library when a command first uses it (see `cli.main`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from resources.connectors.options import PipelineOptions
    from resources.lake import Lake
    from resources.metadata import MetadataStore
    from resources.settings import Settings
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
        from resources.settings import InvalidSettings, get_settings

        try:
            return get_settings()
        except InvalidSettings as error:
            raise click.ClickException(f"invalid configuration:\n{error}") from None

    @cached_property
    def store(self) -> MetadataStore:
        """The metadata store as the Dagster resource that runs are given."""
        from resources.metadata import MetadataStore

        return MetadataStore(database_url=self.settings.resolved_database_url)

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The metadata store's sessions."""
        from resources.store.engine import session_factory

        return session_factory(self.settings.resolved_database_url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction on the metadata store (as `store.session()`, without Dagster)."""
        from resources.store.engine import transaction

        with transaction(self.sessions) as session:
            yield session

    @property
    def public_url(self) -> str:
        """Where providers reach the API (webhook and push channel addresses)."""
        return self.settings.public_url or DEFAULT_PUBLIC_URL

    @cached_property
    def lake(self) -> Lake:
        """The lake."""
        from resources.lake import Lake

        return Lake(url=self.settings.resolved_data_url)

    @cached_property
    def vault(self) -> Vault:
        """Encryption of the secrets in source configs."""
        from resources.vault import Vault

        return Vault.from_settings(self.settings)

    @cached_property
    def option_defaults(self) -> PipelineOptions:
        """The deployment's source options."""
        from resources.connectors.options import PipelineOptions

        return PipelineOptions.from_settings(self.settings)
