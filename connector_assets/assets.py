"""The four assets of a source partition: raw files -> documents -> chunks -> embeddings.

Each asset is thin: partition key -> resources -> a stage builder -> metadata for the UI.
Each imports its stage builder when it runs: the builders pull in pyarrow and DuckDB, which
the code server, the sensors and a run worker starting up do not need (see
docs/api-and-webhook-latency.md).
"""

import resource
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import dagster as dg
from pydantic import Field

from connector_assets.checks import (
    CHUNK_CHECKS,
    EMBEDDING_CHECKS,
    CheckOutcome,
    chunk_checks,
    embedding_checks,
)
from connector_assets.chunking import CHUNKER_VERSION
from connector_assets.normalize import NORMALIZER_VERSION
from connector_assets.partitions import sources_partitions
from connector_assets.progress import JobProgress
from connector_assets.resources import PipelineSettings, chunk_settings
from connector_assets.stopwatch import Stopwatch
from resources import duck
from resources.connectors.options import PipelineOptions
from resources.dagster_resources import LakeResource, VaultResource
from resources.embedders import EmbedderResource
from resources.lake import Lake, LakeVersion
from resources.metadata import MetadataStore
from resources.run_tags import JOB_TAG
from resources.source_configs import source_options
from resources.source_credentials import connector_config
from resources.store import sources
from resources.store.engine import session_factory
from resources.store.models import Source

if TYPE_CHECKING:
    import duckdb

GROUP = "ingestion"

Report = TypeVar("Report")
Arguments = ParamSpec("Arguments")


class SyncConfig(dg.Config):
    """How a run treats the stored state."""

    full: bool = Field(
        default=False,
        description="Ignore the cursor and recompute every stage (vectors are still reused).",
    )


def _source(session: Any, source_id: str) -> Source:
    source = sources.get_source(session, source_id)
    if source is None:
        raise dg.Failure(f"Source {source_id} does not exist (deleted?)")
    return source


def _options(store: MetadataStore, pipeline: PipelineSettings, source_id: str) -> PipelineOptions:
    """The source's options as they are now (a backfill of one stage takes changes too)."""
    with store.session() as session:
        return source_options(PipelineOptions.from_settings(pipeline), _source(session, source_id))


def _progress(context: dg.AssetExecutionContext, store: MetadataStore, stage: str) -> JobProgress:
    progress = JobProgress(
        store=store, job_id=context.run.tags.get(JOB_TAG), run_id=context.run.run_id, stage=stage
    )
    progress.start()
    return progress


def _check_results(
    asset: str, outcomes: list[CheckOutcome], descriptions: dict[str, str]
) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            asset_key=asset,
            check_name=o.name,
            passed=o.passed,
            description=descriptions[o.name],
            metadata=o.metadata,
        )
        for o in outcomes
    ]


def _timed(
    build: Callable[Arguments, tuple[LakeVersion, Report]],
    *args: Arguments.args,
    **kwargs: Arguments.kwargs,
) -> tuple[LakeVersion, Report, Stopwatch]:
    """Run a stage builder, timing it by wall clock and CPU."""
    clock = Stopwatch()
    with clock.timing():
        version, report = build(*args, **kwargs)
    return version, report, clock


def _stage_metadata(version: LakeVersion, clock: Stopwatch) -> dict[str, Any]:
    """What every stage reports: its wall and CPU time, the lake version it made, peak memory."""
    return {
        "duration_s": round(clock.wall_s, 3),
        "cpu_s": round(clock.cpu_s, 3),
        "lake_version": version.name,
        # Linux reports the peak in KiB.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _check_views(
    lake: Lake, *, buckets: frozenset[str], **versions: LakeVersion | None
) -> "duckdb.DuckDBPyConnection":
    """DuckDB views over the rebuilt buckets of the versions a check reads.

    Rows only ever relate within a bucket, and inherited buckets passed their checks when
    they were written.
    """
    con = duck.connect()
    for view, version in versions.items():
        if version is None:
            raise dg.Failure(f"{view} has no committed version to check against")
        lake.register(con, view, version, buckets=buckets)
    return con


def _check_specs(asset: str, names: dict[str, str]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=asset, description=d) for name, d in names.items()]


@dg.asset(
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"parquet"},
    description="Every file of the source: bytes, size, modification time and content hash.",
)
def raw_files(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    store: MetadataStore,
    lake: LakeResource,
    pipeline: PipelineSettings,
    vault: VaultResource,
) -> dg.MaterializeResult:
    """Fetch what changed since the stored cursor (everything on a full sync)."""
    from connector_assets.build_raw import build_raw_files

    source_id = context.partition_key
    found = connector_config(session_factory(store.database_url), vault.get_vault(), source_id)
    if found is None:
        raise dg.Failure(f"Source {source_id} does not exist (deleted?)")
    options = _options(store, pipeline, source_id)
    progress = _progress(context, store, "raw_files")
    version, report, clock = _timed(
        build_raw_files,
        lake=lake.get_lake(),
        source_id=source_id,
        source_type=found.type,
        config=found.config,
        workdir=pipeline.workdir(source_id),
        full=config.full,
        max_file_bytes=options.max_file_bytes,
        progress=progress,
    )
    progress.finish(report.job_stats(listed=report.processed))
    context.log.info(f"{report.description}: {report.job_stats(listed=report.processed)}")
    return dg.MaterializeResult(
        metadata={
            "files": report.files,
            "files_added": report.added,
            "files_changed": report.changed,
            "files_unchanged": report.unchanged,
            "files_deleted": report.deleted,
            "files_skipped": dg.MetadataValue.json(dict(report.skipped)),
            "bytes_fetched": report.bytes_fetched,
            "cursor": report.cursor or "",
            "change_detection": report.description,
            "sync": "full" if config.full else "incremental",
            "mb_per_s": (
                round(report.bytes_fetched / 1e6 / clock.wall_s, 2) if clock.wall_s else 0.0
            ),
            **_stage_metadata(version, clock),
        }
    )


@dg.asset(
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"parquet"},
    deps=[raw_files],
    code_version=NORMALIZER_VERSION,
    description="Files decoded and normalized to text or markdown, with language and title.",
)
def documents(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    store: MetadataStore,
    lake: LakeResource,
    pipeline: PipelineSettings,
) -> dg.MaterializeResult:
    """Normalize files whose bytes changed; carry the rest over."""
    from connector_assets.build_documents import build_documents

    options = _options(store, pipeline, context.partition_key)
    progress = _progress(context, store, "documents")
    version, report, clock = _timed(
        build_documents,
        lake=lake.get_lake(),
        source_id=context.partition_key,
        full=config.full,
        max_file_bytes=options.max_file_bytes,
        progress=progress,
    )
    figures = report.figures
    skipped = figures.skipped.total()
    progress.finish(
        {"filesProcessed": report.normalized, "filesSkipped": report.skipped_now.total()}
    )
    return dg.MaterializeResult(
        metadata={
            "documents": figures.documents - skipped,
            "documents_normalized": report.normalized,
            "documents_carried_over": report.carried,
            "files_skipped": skipped,
            "skipped_by_reason": dg.MetadataValue.json(dict(figures.skipped)),
            "languages": dg.MetadataValue.json(dict(figures.languages.most_common())),
            "text_bytes": figures.text_bytes,
            **_stage_metadata(version, clock),
        }
    )


@dg.asset(
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"parquet"},
    deps=[documents],
    code_version=CHUNKER_VERSION,
    description="Structure-aware, token-budgeted chunks with content-derived ids.",
    check_specs=_check_specs("chunks", CHUNK_CHECKS),
)
def chunks(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    store: MetadataStore,
    lake: LakeResource,
    pipeline: PipelineSettings,
) -> dg.MaterializeResult:
    """Chunk documents that changed; chunks of unchanged documents keep their ids."""
    from connector_assets.build_chunks import build_chunks

    settings = chunk_settings(_options(store, pipeline, context.partition_key))
    progress = _progress(context, store, "chunks")
    tables = lake.get_lake()
    version, report, clock = _timed(
        build_chunks,
        lake=tables,
        source_id=context.partition_key,
        full=config.full,
        settings=settings,
        progress=progress,
    )
    progress.finish({"chunksCreated": report.created})
    con = _check_views(
        tables,
        buckets=report.rebuilt,
        chunks=version,
        docs=tables.current("documents", context.partition_key),
    )
    return dg.MaterializeResult(
        metadata={
            "chunks": report.chunks,
            "chunks_created": report.created,
            "chunks_carried_over": report.carried,
            "chunks_deleted": report.deleted,
            "documents_chunked": report.documents_chunked,
            "tokens": report.tokens,
            "avg_tokens_per_chunk": round(report.tokens / report.chunks, 1) if report.chunks else 0,
            "chunker": settings.fingerprint(),
            **_stage_metadata(version, clock),
        },
        check_results=_check_results("chunks", chunk_checks(con), CHUNK_CHECKS),
    )


@dg.asset(
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"parquet"},
    deps=[chunks],
    description="One vector per chunk, with the model and dimension that made it.",
    check_specs=_check_specs("embeddings", EMBEDDING_CHECKS),
)
def embeddings(
    context: dg.AssetExecutionContext,
    store: MetadataStore,
    lake: LakeResource,
    embedder: EmbedderResource,
) -> dg.MaterializeResult:
    """Embed chunk texts without a vector for the current model; reuse the rest."""
    from connector_assets.build_embeddings import build_embeddings

    progress = _progress(context, store, "embeddings")
    tables = lake.get_lake()
    version, report, clock = _timed(
        build_embeddings,
        lake=tables,
        source_id=context.partition_key,
        embedder=embedder.get_embedder(),
        batch_size=embedder.batch_size,
        progress=progress,
    )
    progress.finish(
        {
            "chunksEmbedded": report.embedded,
            "chunksReused": report.reused,
            "chunksDeleted": report.deleted,
        }
    )
    con = _check_views(
        tables,
        buckets=report.rebuilt,
        vectors=version,
        chunks=tables.current("chunks", context.partition_key),
    )
    metadata: dict[str, Any] = {
        "vectors": report.vectors,
        "chunks_embedded": report.embedded,
        "vectors_reused": report.reused,
        "vectors_deleted": report.deleted,
        "model": report.model,
        "dimension": report.dimension,
        "chunks_per_s": round(report.embedded / clock.wall_s, 1) if clock.wall_s else 0.0,
        # Inside the embedder alone: the rest of the stage is reading chunks and writing vectors.
        "embedder_s": round(report.embedder.wall_s, 3),
        "embedder_cpu_s": round(report.embedder.cpu_s, 3),
        **_stage_metadata(version, clock),
    }
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=_check_results("embeddings", embedding_checks(con), EMBEDDING_CHECKS),
    )


sync_assets = [raw_files, documents, chunks, embeddings]
