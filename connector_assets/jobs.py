"""The `sync_source` job and the run shape every trigger (sensor, CLI) uses."""

from __future__ import annotations

from typing import Any

import dagster as dg

from connector_assets.assets import sync_assets
from connector_assets.partitions import sources_partitions
from resources.run_tags import JOB_TAG, SOURCE_TAG, SYNC_TYPE_TAG, TRIGGER_TAG

CONFIGURABLE_STAGES = ("raw_files", "documents", "chunks")

sync_source = dg.define_asset_job(
    name="sync_source",
    selection=dg.AssetSelection.assets(*sync_assets),
    partitions_def=sources_partitions,
    description="Bring one source's raw files, documents, chunks and embeddings up to date.",
    # The executor is the deployment's (connector_assets/executors.py).
)


def sync_run_config(*, full: bool) -> dict[str, Any]:
    """Run config of a full or incremental sync."""
    return {"ops": {stage: {"config": {"full": full}} for stage in CONFIGURABLE_STAGES}}


def sync_run_tags(*, source_id: str, job_id: str, sync_type: str, trigger: str) -> dict[str, str]:
    """Tags that tie a run to its source and job (the per-source concurrency limit keys on them)."""
    return {
        SOURCE_TAG: source_id,
        JOB_TAG: job_id,
        SYNC_TYPE_TAG: sync_type,
        TRIGGER_TAG: trigger,
    }
