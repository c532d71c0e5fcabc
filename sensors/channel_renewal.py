"""The push-channel renewal schedule: Drive channels are replaced before they expire.

Drive never extends a channel: it stops delivering at the channel's expiration (a week at
most for the changes feed). Every hour this schedule finds the channels expiring within
`HEADWATER_PUSH_CHANNEL_RENEW_WITHIN_HOURS`, opens a new channel for each source, then stops
the old one (`resources/webhooks/channels.py`). It requests no runs: each tick ends as a
skip that says what it renewed.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from connector_assets.jobs import sync_source
from resources.dagster_resources import VaultResource
from resources.metadata import MetadataStore
from resources.store.engine import session_factory
from resources.webhooks.channels import renew_channels

SCHEDULE_NAME = "renew_push_channels"
CRON = "0 * * * *"


def channel_renewal_schedule(*, within: timedelta, ttl: timedelta) -> dg.ScheduleDefinition:
    """The hourly renewal of channels expiring within `within`, each asked to live `ttl`."""

    @dg.schedule(
        name=SCHEDULE_NAME,
        cron_schedule=CRON,
        job=sync_source,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Replaces Google Drive push channels that expire soon: a new channel is opened, "
            "then the old one stopped, so changes keep queueing incremental syncs."
        ),
    )
    def _schedule(
        context: dg.ScheduleEvaluationContext, store: MetadataStore, vault: VaultResource
    ) -> dg.SkipReason:
        renewals = renew_channels(
            session_factory(store.database_url), vault.get_vault(), within=within, ttl=ttl
        )
        failed = [r for r in renewals if r.new_channel_id is None]
        message = (
            f"{len(renewals) - len(failed)} push channels renewed, {len(failed)} failed"
            + "".join(f"; {r.old_channel_id}: {r.error}" for r in failed)
        )
        context.log.info(message)
        return dg.SkipReason(message)

    return _schedule
