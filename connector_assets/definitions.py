"""The one place Headwater's Dagster definitions are built (loaded by workspace.yaml)."""

from __future__ import annotations

import os

import dagster as dg

from connector_assets.assets import sync_assets
from connector_assets.executors import sync_executor
from connector_assets.jobs import sync_source
from connector_assets.resources import PipelineSettings
from resources.dagster_resources import LakeResource, VaultResource
from resources.embedders import EmbedderResource
from resources.metadata import MetadataStore
from resources.settings import Settings, get_settings
from resources.vault import KEYS_VARIABLE
from sensors.channel_renewal import channel_renewal_schedule
from sensors.reconcile import reconcile_schedule
from sensors.run_status import run_status_sensors
from sensors.scheduled_syncs import scheduled_syncs
from sensors.sync_requests import sync_requests

DATABASE_URL_VARIABLE, DATA_URL_VARIABLE = "HEADWATER_DATABASE_URL", "HEADWATER_DATA_URL"


def build_definitions(settings: Settings) -> dg.Definitions:
    """Definitions wired to the given settings."""
    return dg.Definitions(
        assets=sync_assets,
        jobs=[sync_source],
        executor=sync_executor(settings),
        sensors=[sync_requests, *run_status_sensors],
        schedules=[
            reconcile_schedule(settings.reconcile_cron),
            channel_renewal_schedule(
                within=settings.push_channel_renew_within, ttl=settings.push_channel_ttl
            ),
            scheduled_syncs,
        ],
        resources={
            "store": MetadataStore(
                database_url=_by_name(DATABASE_URL_VARIABLE, settings.resolved_database_url)
            ),
            "lake": LakeResource(url=_by_name(DATA_URL_VARIABLE, settings.resolved_data_url)),
            "pipeline": PipelineSettings(
                cache_dir=str(settings.cache_dir),
                max_file_bytes=settings.max_file_bytes,
                chunk_max_tokens=settings.chunk_max_tokens,
                chunk_overlap_tokens=settings.chunk_overlap_tokens,
                sync_interval_minutes=settings.sync_interval_minutes,
            ),
            "embedder": EmbedderResource.from_env(),
            "vault": VaultResource(
                encryption_keys=dg.EnvVar(KEYS_VARIABLE) if os.environ.get(KEYS_VARIABLE) else None,
                home=str(settings.resolved_home),
            ),
        },
    )


def _by_name(variable: str, value: str) -> str | dg.EnvVar:
    """`value`, as a reference to `variable` when it came from there: Dagster's UI then shows
    the variable's name, never the credentials a URL may hold."""
    return dg.EnvVar(variable) if os.environ.get(variable) == value else value


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's definitions, built when Dagster loads it (never at import).

    Loading checks the environment's settings: production refuses an unsafe configuration.
    """
    return build_definitions(get_settings())
