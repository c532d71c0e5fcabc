"""Real Dagster runs of `sync_source` over a local folder: full, incremental, full again."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey

from connector_assets.chunking import ChunkSettings
from connector_assets.definitions import build_definitions
from resources import duck
from resources.dagster_home import dagster_instance
from resources.files import LISTING_ATTACHMENT
from resources.lake import Lake
from resources.metadata import MetadataStore
from resources.settings import Settings, get_settings
from resources.store import sources
from resources.store.models import JobStatus, SourceStatus, SyncType
from tests.runs import sync_source, table

pytestmark = pytest.mark.slow

PY_FILE = '''"""Geometry helpers."""


def area(width: float, height: float) -> float:
    """The area of a rectangle."""
    return width * height


class Circle:
    """A circle."""

    def __init__(self, radius: float) -> None:
        self.radius = radius

    def area(self) -> float:
        return 3.14159 * self.radius**2
'''

MD_FILE = """# Guide

Intro paragraph about the project.

## Install

Run the installer and follow the prompts.

## Usage

Call the tool with a path.
"""

TS_FILE = """export interface User { id: string; name: string }

export function greet(user: User): string {
  return `Hello ${user.name}`;
}

export class Registry {
  private users: User[] = [];
  add(user: User): void { this.users.push(user); }
}
"""


def _tree(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "node_modules/pkg").mkdir(parents=True)
    (root / "src/geometry.py").write_text(PY_FILE)
    (root / "src/app.ts").write_text(TS_FILE)
    (root / "docs/guide.md").write_text(MD_FILE)
    (root / "docs/notes.txt").write_text("Plain notes.\n\nSecond paragraph of notes.\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (root / "node_modules/pkg/index.js").write_text("module.exports = 1;\n")


@dataclass
class Folder:
    """A `local` source over a small tree, with the store and lake of its home."""

    settings: Settings
    store: MetadataStore
    lake: Lake
    path: Path
    source_id: str

    def sync(self, sync: SyncType) -> Any:
        return sync_source(self.settings, self.store, self.source_id, sync)

    def table(self, asset: str, sql: str) -> list[tuple[Any, ...]]:
        return table(self.lake, asset, self.source_id, sql)


@pytest.fixture
def folder(headwater_home: Path, tmp_path: Path) -> Folder:
    settings = get_settings()
    store = MetadataStore(database_url=settings.resolved_database_url)
    path = tmp_path / "folder"
    _tree(path)
    with store.session() as session:
        source_id = sources.create_source(
            session,
            owner_id="alice",
            tenant_id=None,
            type="local",
            name="folder",
            config={"path": str(path), "excludePaths": ["node_modules/**"]},
        ).id
    return Folder(settings, store, Lake(url=settings.resolved_data_url), path, source_id)


def test_full_then_incremental_then_fullsync_source(folder: Folder) -> None:
    settings, store, lake, source_id = folder.settings, folder.store, folder.lake, folder.source_id

    first = sync_source(settings, store, source_id, SyncType.FULL)
    assert first.status is JobStatus.COMPLETED, first.error
    assert first.progress == 100
    assert first.stats["filesTotal"] == 5 and first.stats["filesAdded"] == 5
    assert first.stats["filesSkipped"] == 1  # the PNG
    docs = dict(table(lake, "documents", source_id, "SELECT path, language FROM t"))
    assert docs["src/geometry.py"] == "python" and docs["src/app.ts"] == "typescript"
    assert docs["docs/guide.md"] == "markdown"
    assert "node_modules/pkg/index.js" not in docs
    symbols = {
        s
        for (s,) in table(lake, "chunks", source_id, "SELECT symbol FROM t WHERE path LIKE '%.py'")
    }
    assert any("Circle" in (s or "") for s in symbols)  # code chunks name their definitions
    chunk_count = first.stats["chunksCreated"]
    assert first.stats["chunksEmbedded"] == chunk_count > 0
    with store.session() as session:
        source = sources.get_source(session, source_id)
        assert source is not None and source.status is SourceStatus.SYNCED
        assert source.last_sync_at is not None

    chunks_before = dict(table(lake, "chunks", source_id, "SELECT chunk_id, path FROM t"))
    (folder.path / "docs/guide.md").write_text(
        MD_FILE + "\n## FAQ\n\nAnswers to common questions.\n"
    )
    (folder.path / "docs/notes.txt").unlink()
    (folder.path / "src/extra.py").write_text("def extra() -> int:\n    return 42\n")
    second = sync_source(settings, store, source_id, SyncType.INCREMENTAL)
    assert second.status is JobStatus.COMPLETED, second.error
    stats = second.stats
    assert (stats["filesAdded"], stats["filesChanged"], stats["filesDeleted"]) == (1, 1, 1)
    assert stats["filesTotal"] == 2  # only the changed and added files were listed as upserts
    chunks_after = dict(table(lake, "chunks", source_id, "SELECT chunk_id, path FROM t"))
    new_ids = chunks_after.keys() - chunks_before.keys()
    assert {chunks_after[i] for i in new_ids} <= {"docs/guide.md", "src/extra.py"}
    assert stats["chunksEmbedded"] <= len(new_ids)
    assert "docs/notes.txt" not in chunks_after.values()
    unchanged = {i for i, p in chunks_before.items() if p == "src/geometry.py"}
    assert unchanged <= chunks_after.keys()  # untouched files keep their chunk ids
    vectors = table(lake, "embeddings", source_id, "SELECT chunk_id FROM t")
    assert {v for (v,) in vectors} == set(chunks_after)
    _assert_summaries_match_the_rows(folder)

    third = sync_source(settings, store, source_id, SyncType.FULL)
    assert third.status is JobStatus.COMPLETED, third.error
    assert third.stats["chunksEmbedded"] == 0
    assert third.stats["chunksReused"] == len(chunks_after)


def _assert_summaries_match_the_rows(folder: Folder) -> None:
    """What an incremental version records of itself, from the rebuilt buckets alone, holds
    for all its rows: document figures, the sorted file listing and the token total."""
    docs = folder.lake.current("documents", folder.source_id)
    assert docs is not None
    figures = docs.meta["figures"]
    [(documents, indexed, text_bytes)] = folder.table(
        "documents",
        "SELECT count(*), sum(size) FILTER (WHERE skip_reason IS NULL), sum(strlen(text)) FROM t",
    )
    assert (figures["documents"], figures["indexedBytes"], figures["textBytes"]) == (
        documents,
        indexed,
        text_bytes,
    )
    languages = folder.table(
        "documents", "SELECT language, count(*) FROM t WHERE skip_reason IS NULL GROUP BY 1"
    )
    assert figures["languages"] == dict(languages)
    skipped = folder.table(
        "documents", "SELECT skip_reason, count(*) FROM t WHERE skip_reason IS NOT NULL GROUP BY 1"
    )
    assert figures["skipped"] == dict(skipped)
    con = duck.connect()
    folder.lake.register_attachment(con, "listing", docs, LISTING_ATTACHMENT)
    listed = con.sql("SELECT path FROM listing").fetchall()
    assert listed == folder.table(
        "documents", "SELECT path FROM t WHERE skip_reason IS NULL ORDER BY path, file_id"
    )
    chunks = folder.lake.current("chunks", folder.source_id)
    assert chunks is not None
    assert [(chunks.meta["tokens"],)] == folder.table("chunks", "SELECT sum(token_count) FROM t")


def test_a_missing_folder_fails_the_job_and_keeps_the_data(folder: Folder) -> None:
    assert folder.sync(SyncType.FULL).status is JobStatus.COMPLETED
    before = folder.lake.current("chunks", folder.source_id)
    shutil.rmtree(folder.path)
    failed = folder.sync(SyncType.INCREMENTAL)
    assert failed.status is JobStatus.FAILED
    assert failed.error and str(folder.path) in failed.error
    assert folder.lake.current("chunks", folder.source_id) == before
    with folder.store.session() as session:
        source = sources.get_source(session, folder.source_id)
        assert source is not None and source.status is SourceStatus.ERROR
        assert source.last_error == failed.error


def _materialize(settings: Settings, source_id: str, assets: list[str]) -> None:
    """Materialize some assets of one partition, as a backfill from the UI would."""
    job = build_definitions(settings).resolve_job_def("sync_source")
    result = job.execute_in_process(
        instance=dagster_instance(settings),
        partition_key=source_id,
        asset_selection=[AssetKey(name) for name in assets],
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)


def test_stage_settings_changes_recompute_only_downstream_stages(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, lake, source_id = folder.settings, folder.lake, folder.source_id
    assert folder.sync(SyncType.FULL).status is JobStatus.COMPLETED

    def versions() -> dict[str, str]:
        current = {a: lake.current(a, source_id) for a in ("raw_files", "documents", "chunks")}
        return {a: v.name for a, v in current.items() if v}

    before = versions()
    monkeypatch.setenv("HEADWATER_EMBEDDING_DIMENSIONS", "128")
    _materialize(settings, source_id, ["embeddings"])
    assert versions() == before  # nothing refetched, renormalized or rechunked
    models = table(lake, "embeddings", source_id, "SELECT DISTINCT model, dimension FROM t")
    assert models == [("wordllama/l2_supercat-128", 128)]
    chunk_count = lake.current("chunks", source_id)
    vector_count = lake.current("embeddings", source_id)
    assert chunk_count and vector_count and chunk_count.rows == vector_count.rows

    monkeypatch.setenv("HEADWATER_CHUNK_MAX_TOKENS", "40")
    monkeypatch.setenv("HEADWATER_CHUNK_OVERLAP_TOKENS", "8")
    small = Settings()
    _materialize(small, source_id, ["chunks", "embeddings"])
    after = versions()
    assert after["raw_files"] == before["raw_files"] and after["documents"] == before["documents"]
    rechunked = lake.current("chunks", source_id)
    assert rechunked is not None and rechunked.rows > chunk_count.rows
    assert rechunked.meta["chunker"] == small_chunker_fingerprint(small)
    tokens = table(lake, "chunks", source_id, "SELECT max(token_count) FROM t")
    assert tokens[0][0] <= 80  # a single unsplittable line may exceed the budget a little


def small_chunker_fingerprint(settings: Settings) -> str:
    """The chunker fingerprint recorded for these settings."""
    return ChunkSettings(
        max_tokens=settings.chunk_max_tokens, overlap_tokens=settings.chunk_overlap_tokens
    ).fingerprint()
