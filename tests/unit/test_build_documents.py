"""Stages 1 and 2 over a local folder, without Dagster: the rows, figures and listing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector_assets import tables
from connector_assets.build_documents import DocumentFigures, DocumentsReport, build_documents
from connector_assets.build_raw import build_raw_files
from connector_assets.progress import JobProgress
from resources import duck
from resources.files import LISTING_ATTACHMENT
from resources.lake import Lake
from resources.metadata import MetadataStore
from tests.runs import table

SOURCE = "src-1"
MAX_FILE_BYTES = 1_000

FILES: dict[str, bytes] = {
    "src/app.py": b"def main() -> int:\r\n    return 0\r\n",
    "docs/guide.md": b"---\ntitle: 'The guide'\n---\n# Guide\n\nHow to.\n",
    "notes.txt": "Caf\xe9 cr\xe8me, na\xefve fa\xe7ade.\n".encode("cp1252"),
    "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    "empty.txt": b"  \n",
    "big.txt": b"x" * (MAX_FILE_BYTES + 1),
    **{f"lib/module_{n}.py": f"VALUE = {n}\n".encode() for n in range(24)},
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "folder"
    for path, data in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(url=str(tmp_path / "lake"))


def _sync(lake: Lake, folder: Path, *, full: bool) -> DocumentsReport:
    progress = JobProgress(
        store=MetadataStore(database_url="sqlite://"), job_id=None, run_id="r", stage="raw_files"
    )
    build_raw_files(
        lake=lake,
        source_id=SOURCE,
        source_type="local",
        config={"path": str(folder)},
        workdir=folder.parent / "work",
        full=full,
        max_file_bytes=MAX_FILE_BYTES,
        progress=progress,
    )
    _, report = build_documents(
        lake=lake, source_id=SOURCE, full=full, max_file_bytes=MAX_FILE_BYTES, progress=progress
    )
    return report


def _documents(lake: Lake) -> dict[str, tuple[Any, ...]]:
    rows = table(
        lake,
        "documents",
        SOURCE,
        "SELECT path, language, title, mime_type, encoding, text, skip_reason, skip_detail FROM t",
    )
    return {path: tuple(rest) for path, *rest in rows}


def _assert_summaries_match_the_rows(lake: Lake, report: DocumentsReport) -> None:
    """The figures and the listing the version records are those of all its rows."""
    version = lake.current("documents", SOURCE)
    assert version is not None
    rows = table(lake, "documents", SOURCE, "SELECT skip_reason, language, size, text FROM t")
    indexed = [(language, size, text) for reason, language, size, text in rows if reason is None]
    expected = DocumentFigures(
        documents=len(rows),
        indexed_bytes=sum(size for _, size, _ in indexed),
        text_bytes=sum(len(text.encode()) for *_, text in rows if text is not None),
        skipped=Counter(reason for reason, *_ in rows if reason is not None),
        languages=Counter(language or "unknown" for language, _, _ in indexed),
    )
    assert version.meta["figures"] == expected.to_meta() == report.figures.to_meta()
    con = duck.connect()
    lake.register_attachment(con, "listing", version, LISTING_ATTACHMENT)
    listed = con.sql("SELECT path, language, size FROM listing").fetchall()
    assert listed == table(
        lake,
        "documents",
        SOURCE,
        "SELECT path, language, size FROM t WHERE skip_reason IS NULL ORDER BY path, file_id",
    )


def test_a_full_build_normalizes_every_file_and_counts_them(lake: Lake, folder: Path) -> None:
    report = _sync(lake, folder, full=True)
    assert (report.normalized, report.carried) == (len(FILES), 0)
    assert report.skipped_now == Counter(binary=1, empty=1, too_large=1)
    documents = _documents(lake)
    assert documents["src/app.py"] == (
        "python", None, "text/x-python", "utf-8", "def main() -> int:\n    return 0\n", None, None
    )  # fmt: skip
    assert documents["docs/guide.md"][:2] == ("markdown", "The guide")
    assert documents["notes.txt"][3:5] == ("cp1252", "Café crème, naïve façade.\n")
    assert documents["big.txt"][5:] == ("too_large", f"{MAX_FILE_BYTES + 1} bytes")
    assert documents["logo.png"][:6] == (None,) * 5 + ("binary",)
    _assert_summaries_match_the_rows(lake, report)


def test_an_incremental_build_carries_unchanged_documents_over(lake: Lake, folder: Path) -> None:
    _sync(lake, folder, full=True)
    before = _documents(lake)
    (folder / "lib/module_3.py").write_text("VALUE = 'three'\n")
    (folder / "notes.txt").unlink()
    report = _sync(lake, folder, full=False)
    assert report.normalized == 1  # the other files of its bucket, if any, are carried over
    after = _documents(lake)
    assert after["lib/module_3.py"][4] == "VALUE = 'three'\n"
    assert after == {
        path: row for path, row in before.items() if path not in ("notes.txt", "lib/module_3.py")
    } | {"lib/module_3.py": after["lib/module_3.py"]}
    _assert_summaries_match_the_rows(lake, report)


def test_a_version_without_figures_is_counted_whole(lake: Lake, folder: Path) -> None:
    """A last version that kept no figures or listing (written before they were kept): the
    next one counts its inherited buckets from their rows."""
    _sync(lake, folder, full=True)
    previous = lake.current("documents", SOURCE)
    assert previous is not None
    with lake.new_version("documents", SOURCE, schema=tables.DOCUMENTS) as writer:
        writer.inherit(previous, previous.bucket_files())
        writer.meta = {k: v for k, v in previous.meta.items() if k not in ("figures", "stats")}
    (folder / "lib/module_3.py").write_text("VALUE = 'three'\n")
    report = _sync(lake, folder, full=False)
    assert report.normalized == 1
    _assert_summaries_match_the_rows(lake, report)
