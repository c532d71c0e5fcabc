"""The embeddings stage over a lake: each distinct text is sent to the provider once."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from connector_assets import tables
from connector_assets.build_embeddings import build_embeddings
from connector_assets.progress import JobProgress
from resources import duck
from resources.embedders import OpenAICompatibleEmbedder
from resources.lake import Lake
from resources.metadata import MetadataStore
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    openai_server_fixture,  # noqa: F401  (provides the `openai_server` fixture)
)

pytestmark = pytest.mark.slow

SOURCE = "src-1"


def _chunk(file_id: str, ordinal: int, text: str) -> dict[str, object]:
    return {
        "chunk_id": f"{file_id}-{ordinal}",
        "file_id": file_id,
        "path": f"{file_id}.txt",
        "content_hash": f"hash-{file_id}",
        "ordinal": ordinal,
        "text": text,
        "text_hash": f"text-{text}",
        "token_count": 1,
        "start_line": 1,
        "end_line": 1,
        "kind": "text",
        "symbol": None,
        "language": "text",
    }


def test_repeated_texts_are_embedded_once_and_vectors_are_stored_by_bucket(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    # A license header repeated in files far apart (other buckets, other batches), and a
    # text repeated within one file.
    texts = {"aa01": ["license", "alpha"], "cc02": ["beta", "beta"], "ff03": ["license", "gamma"]}
    with lake.new_version("chunks", SOURCE, schema=tables.CHUNKS) as writer:
        rows = [_chunk(f, n, t) for f, ts in texts.items() for n, t in enumerate(ts)]
        writer.write(pa.Table.from_pylist(rows, schema=tables.CHUNKS))
    embedder = OpenAICompatibleEmbedder(
        model="test-embed", base_url=openai_server.url, dimensions=8
    )
    store = MetadataStore(database_url=f"sqlite:///{tmp_path / 'store.db'}")
    progress = JobProgress(store=store, job_id=None, run_id="run-1", stage="embeddings")

    version, report = build_embeddings(
        lake=lake, source_id=SOURCE, embedder=embedder, batch_size=2, progress=progress
    )

    sent = [text for request in openai_server.requests for text in request.body["input"]]
    assert sorted(sent) == ["alpha", "beta", "gamma", "license"]
    assert report.embedded == version.rows == 6
    con = duck.connect()
    lake.register(con, "vectors", version)
    rows = con.execute("SELECT file_id, text_hash, vector FROM vectors").fetchall()
    assert [file_id for file_id, _, _ in rows] == sorted(file_id for file_id, _, _ in rows)
    by_text: dict[str, list[tuple[float, ...]]] = {}
    for _, text_hash, vector in rows:
        by_text.setdefault(text_hash, []).append(tuple(vector))
    assert {text: len(vs) for text, vs in by_text.items()} == {
        "text-license": 2,
        "text-alpha": 1,
        "text-beta": 2,
        "text-gamma": 1,
    }
    assert all(len(set(vs)) == 1 for vs in by_text.values())  # one vector per text
    assert {len(v) for vs in by_text.values() for v in vs} == {8}
