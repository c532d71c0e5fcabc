"""The structure-aware chunker: split points, coverage, budgets, determinism, locality."""

from __future__ import annotations

import ast
import hashlib
import itertools
import random
import re

import pytest

from connector_assets._assembly import Assembler
from connector_assets.chunking import (
    BYTES_PER_TOKEN,
    CHUNKER_VERSION,
    KIND_WINDOW,
    Chunk,
    ChunkSettings,
    chunk_text,
    estimate_tokens,
)

PYTHON = '''"""Sync bookkeeping for one source: cursors, retries and the job ledger."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

DEFAULT_RETRIES = 3


@dataclasses.dataclass(frozen=True)
class Cursor:
    """Where the last sync of a source stopped."""

    source_id: str
    position: str
    updated_at: float


def backoff_delays(retries: int, *, base: float = 0.5, cap: float = 30.0) -> Iterator[float]:
    """Delays between attempts: exponential, capped, and never negative."""
    delay = base
    for _ in range(retries):
        yield min(delay, cap)
        delay *= 2


class JobLedger:
    """Every sync job of a source, in the order they were queued."""

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        self._jobs: list[dict[str, object]] = []
        self._cursor: Cursor | None = None

    def enqueue(self, *, kind: str, trigger: str) -> dict[str, object]:
        """Record a queued job and return it; the sensor turns it into a run later."""
        job = {"id": f"{self.source_id}-{len(self._jobs)}", "kind": kind, "trigger": trigger}
        job["queued_at"] = time.time()
        job["status"] = "queued"
        self._jobs.append(job)
        return job

    def finish(self, job_id: str, *, cursor: Cursor, error: str | None = None) -> None:
        """Close a job; the cursor only moves forward when the job succeeded."""
        for job in self._jobs:
            if job["id"] == job_id:
                job["status"] = "failed" if error else "succeeded"
                job["error"] = error
                job["finished_at"] = time.time()
                if error is None:
                    self._cursor = cursor
                return
        raise KeyError(f"no job {job_id} for source {self.source_id}")

    @property
    def cursor(self) -> Cursor | None:
        """The cursor of the last successful job, if any."""
        return self._cursor

    def pending(self) -> list[dict[str, object]]:
        """Jobs that were queued but never finished, oldest first."""
        return [job for job in self._jobs if job["status"] == "queued"]


def parse_cursor(raw: str) -> Cursor:
    """Read a cursor written by `format_cursor`; reject anything else loudly."""
    source_id, sep, rest = raw.partition("@")
    if not sep:
        raise ValueError(f"not a cursor: {raw!r}")
    position, sep, stamp = rest.rpartition(":")
    if not sep or not stamp.replace(".", "", 1).isdigit():
        raise ValueError(f"cursor without a timestamp: {raw!r}")
    return Cursor(source_id=source_id, position=position, updated_at=float(stamp))


def format_cursor(cursor: Cursor) -> str:
    """The stable text form of a cursor, as stored in the metadata store."""
    return f"{cursor.source_id}@{cursor.position}:{cursor.updated_at:.6f}"


if __name__ == "__main__":
    print(format_cursor(Cursor("demo", "HEAD", time.time())))
'''

TYPESCRIPT = """import { EventEmitter } from "events";
import type { Request, Response } from "./http";

/** Options accepted by the store. */
export interface StoreOptions {
  /** Where records are kept on disk. */
  path: string;
  /** Seconds before a record is evicted; forever when absent. */
  ttlSeconds?: number;
  /** Called with the key of every evicted record. */
  onEvict?: (key: string) => void;
}

export type Key = string | number;

export class RecordStore<T> extends EventEmitter {
  private readonly items = new Map<Key, T>();

  constructor(private readonly options: StoreOptions) {
    super();
    if (!options.path) {
      throw new Error("path is required");
    }
  }

  get(key: Key): T | undefined {
    const value = this.items.get(key);
    this.emit("read", key, value !== undefined);
    return value;
  }

  set(key: Key, value: T): void {
    this.items.set(key, value);
    this.emit("write", key);
    if (this.options.ttlSeconds) {
      setTimeout(() => this.evict(key), this.options.ttlSeconds * 1000);
    }
  }

  evict(key: Key): boolean {
    const existed = this.items.delete(key);
    if (existed && this.options.onEvict) {
      this.options.onEvict(String(key));
    }
    return existed;
  }
}

export const handler = async (req: Request, res: Response): Promise<void> => {
  const store = new RecordStore<string>({ path: "/var/lib/store", ttlSeconds: 60 });
  store.set(String(req.query.key), JSON.stringify(req.body));
  res.status(204).end();
};

export function parseKey(raw: string): Key {
  const n = Number(raw);
  return Number.isNaN(n) ? raw : n;
}
"""

TSX = """import React from "react";

type Props = { name: string; items: string[] };

export function Greeting({ name }: Props) {
  return <h1 className="greeting">Hello, {name}!</h1>;
}

export const List = ({ items }: Props) => (
  <ul>
    {items.map((item) => (
      <li key={item}>{item}</li>
    ))}
  </ul>
);
"""

MARKDOWN = """# Headwater guide

Headwater keeps an AI-ready copy of a team's data sources. This guide walks
through installing it, adding a source and watching the first sync.

## Install

Run the installer; it needs Python 3.11 and a writable home folder.

```bash
# this comment is not a heading
pip install headwater

headwater up
```

## Sources

### Adding a source

Sources are added through the HTTP API or the command line. Each one gets a
partition in Dagster, named after its id, so its runs never overlap.

Credentials are encrypted before they are stored. The API never returns them,
and the logs never show them.

Every source remembers a cursor: the point where its last sync stopped. A sync
reads only what changed since then, so a resync of unchanged data is cheap.

### Syncing

A sync turns raw files into documents, chunks and embeddings.
"""

PROSE = (
    "Rivers begin as rain on high ground. Water gathers in rills, the rills join into "
    "streams, and the streams feed a river that carries silt to the sea.\n\n"
    "The headwater is the part nearest the source. Its water is cold and clear, and the "
    "animals that live there are adapted to fast currents. Trout hold behind stones. "
    "Caddisfly larvae build cases of sand grains. Dippers walk along the bottom to hunt. "
    "Every one of them depends on the shade of the trees along the banks, which keeps "
    "the water cool in summer. When the trees are cut, the stream warms, the oxygen "
    "falls, and the animals that need cold water move upstream or disappear. Restoring "
    "the banks is slow work, but a planted bank shades the water again within a decade. "
    "Surveys count the returning species each spring, and the counts are published so "
    "that anyone can follow the recovery.\n\n"
    "Downstream, the river slows and widens.\n"
)

SMALL = ChunkSettings(max_tokens=128, overlap_tokens=16)


def _squash(text: str) -> str:
    return "".join(text.split())


def _is_subsequence(needle: str, haystack: str) -> bool:
    remaining = iter(haystack)
    return all(char in remaining for char in needle)


def _assert_well_formed(text: str, chunks: list[Chunk], settings: ChunkSettings) -> None:
    """Coverage, budgets, no blank chunks, consistent token counts and line numbers."""
    assert chunks
    # Every non-whitespace character appears, in order (overlaps and context only add).
    assert _is_subsequence(_squash(text), _squash("".join(c.text for c in chunks)))
    lines = text.splitlines()
    covered: set[int] = set()
    for chunk in chunks:
        assert chunk.text.strip(), chunk
        assert chunk.token_count == estimate_tokens(chunk.text)
        assert chunk.token_count <= settings.max_tokens, chunk
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines)
        assert chunk.kind in {"definition", "section", "paragraph", "window"}
        # The chunk's last line is (part of) the source line it claims to end at.
        assert chunk.text.splitlines()[-1].strip() in lines[chunk.end_line - 1]
        covered.update(range(chunk.start_line, chunk.end_line + 1))
    assert {n for n, line in enumerate(lines, 1) if line.strip()} <= covered
    starts = [c.start_line for c in chunks]
    assert starts == sorted(starts)


def _statement_starts(source: str) -> set[int]:
    """First lines (decorators included) of top-level and class-level statements."""
    starts: set[int] = set()
    tree = ast.parse(source)
    for node in tree.body:
        starts.add(_first_line(node))
        if isinstance(node, ast.ClassDef):
            starts.update(_first_line(member) for member in node.body)
    return starts


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


# --- python -------------------------------------------------------------------------


def test_python_splits_at_definitions() -> None:
    chunks = chunk_text(PYTHON, language="python", settings=SMALL)
    _assert_well_formed(PYTHON, chunks, SMALL)
    allowed = _statement_starts(PYTHON) | {1}
    for chunk in chunks:
        if chunk.kind != "window":
            assert chunk.kind == "definition"
            assert chunk.start_line in allowed, chunk
    # A definition that fits the budget lands whole in one chunk.
    budget_bytes = SMALL.max_tokens * BYTES_PER_TOKEN
    lines = PYTHON.splitlines()
    for node in ast.parse(PYTHON).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            first, last = _first_line(node), node.end_lineno or node.lineno
            size = len("\n".join(lines[first - 1 : last]).encode())
            if size <= budget_bytes:
                assert any(c.start_line <= first and last <= c.end_line for c in chunks), node.name


def test_python_class_over_budget_splits_at_methods_with_header_context() -> None:
    chunks = chunk_text(PYTHON, language="python", settings=SMALL)
    ledger = [c for c in chunks if c.symbol and c.symbol.startswith("JobLedger")]
    assert len(ledger) >= 3
    assert all(c.text.startswith("class JobLedger:\n") for c in ledger)
    symbols = ", ".join(c.symbol or "" for c in ledger)
    for method in ("__init__", "enqueue", "finish", "cursor", "pending"):
        assert f"JobLedger.{method}" in symbols
    finish = next(c for c in ledger if c.symbol and "JobLedger.finish" in c.symbol)
    assert "    def finish(self, job_id: str" in finish.text
    # Clean definitions never overlap: each method's source lines are in one chunk only.
    ranges = [(c.start_line, c.end_line) for c in ledger if c.kind == "definition"]
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end < start


def test_python_small_neighbours_are_merged() -> None:
    chunks = chunk_text(PYTHON, language="python", settings=ChunkSettings(max_tokens=256))
    # The docstring, imports and the constant do not stand alone.
    assert chunks[0].start_line == 1
    assert "import dataclasses" in chunks[0].text
    assert chunks[0].symbol is not None
    assert all(c.token_count >= 256 // 8 for c in chunks[:-1])


def test_python_whole_file_within_budget_is_one_chunk() -> None:
    chunks = chunk_text(PYTHON, language="python", settings=ChunkSettings(max_tokens=4096))
    assert len(chunks) == 1
    assert chunks[0].text == PYTHON.strip()
    assert (chunks[0].start_line, chunks[0].end_line) == (1, PYTHON.count("\n"))


def test_python_function_over_budget_becomes_overlapping_windows() -> None:
    body = "\n".join(f"    total += weights[{i}] * values[{i}]  # term {i}" for i in range(60))
    source = f"def weighted(weights, values):\n    total = 0\n{body}\n    return total\n"
    settings = ChunkSettings(max_tokens=100, overlap_tokens=20)
    chunks = chunk_text(source, language="python", settings=settings)
    _assert_well_formed(source, chunks, settings)
    assert len(chunks) > 3
    assert {c.kind for c in chunks} == {"window"}
    assert {c.symbol for c in chunks} == {"weighted"}
    for previous, following in itertools.pairwise(chunks):
        # Windows cut at lines and share up to overlap_tokens of them.
        assert following.start_line <= previous.end_line
        shared = "\n".join(
            following.text.splitlines()[: previous.end_line - following.start_line + 1]
        )
        assert shared and previous.text.endswith(shared)
        assert estimate_tokens(shared) <= settings.overlap_tokens


def test_python_edit_leaves_other_functions_byte_identical() -> None:
    settings = ChunkSettings(max_tokens=160, overlap_tokens=16)
    before = chunk_text(PYTHON, language="python", settings=settings)
    edited = PYTHON.replace(
        'raise ValueError(f"not a cursor: {raw!r}")',
        'raise ValueError(f"not a cursor (expected source@position:stamp): {raw!r}")',
    )
    assert edited != PYTHON
    after = chunk_text(edited, language="python", settings=settings)
    changed_before = [c for c in before if "def parse_cursor" not in c.text]
    changed_after = [c for c in after if "def parse_cursor" not in c.text]
    assert [c.text for c in changed_before] == [c.text for c in changed_after]
    assert len(before) == len(after)


def test_python_edit_in_a_run_of_small_functions_stays_local() -> None:
    rng = random.Random(5)
    functions = []
    for i in range(40):
        body = "\n".join(f"    value = transform_{i}(value, {j})" for j in range(rng.randint(1, 5)))
        functions.append(f"def step_{i}(value):\n    '''Step {i}.'''\n{body}\n    return value\n")
    settings = ChunkSettings(max_tokens=200, overlap_tokens=20)
    before = {
        c.text for c in chunk_text("\n\n".join(functions), language="python", settings=settings)
    }
    for index in range(0, 40, 3):
        edited = list(functions)
        edited[index] = edited[index].replace(
            "    return value", "    value += 1\n    return value"
        )
        after = chunk_text("\n\n".join(edited), language="python", settings=settings)
        changed = [c for c in after if c.text not in before]
        # The edited function's chunk, plus at most a few neighbours up to the next anchor.
        assert 1 <= len(changed) <= 4
        assert any(f"def step_{index}(" in c.text for c in changed)


def test_python_with_syntax_errors_falls_back_to_blank_line_blocks() -> None:
    source = "def broken(:\n    return 1\n\n\nprint 'python 2'\n"
    chunks = chunk_text(source, language="python", settings=SMALL)
    _assert_well_formed(source, chunks, SMALL)
    assert {c.kind for c in chunks} == {"paragraph"}


# --- typescript ---------------------------------------------------------------------


def test_typescript_splits_at_classes_interfaces_and_arrow_functions() -> None:
    settings = ChunkSettings(max_tokens=100, overlap_tokens=10)
    chunks = chunk_text(TYPESCRIPT, language="typescript", settings=settings)
    _assert_well_formed(TYPESCRIPT, chunks, settings)
    by_symbol = {c.symbol: c for c in chunks}
    assert by_symbol["handler"].text.startswith("export const handler = async (req")
    assert by_symbol["parseKey"].text.startswith("export function parseKey(")
    # The JSDoc comment above the interface travels with it.
    interface = next(c for c in chunks if c.symbol and "StoreOptions" in c.symbol)
    assert (
        "/** Options accepted by the store. */\nexport interface StoreOptions {" in interface.text
    )
    methods = [c for c in chunks if c.symbol and c.symbol.startswith("RecordStore.")]
    assert {"RecordStore.get", "RecordStore.set", "RecordStore.evict"} <= {
        part for c in methods for part in (c.symbol or "").split(", ")
    }
    assert all(
        c.text.startswith("export class RecordStore<T> extends EventEmitter {") for c in methods
    )
    lines = TYPESCRIPT.splitlines()
    for chunk in chunks:
        if chunk.kind == "definition":
            first = lines[chunk.start_line - 1]
            assert re.match(
                r"(import|export|/\*\*|  /\*\*|  [a-z]|  private|  constructor)", first
            ), first


def test_typescript_edit_leaves_other_definitions_byte_identical() -> None:
    settings = ChunkSettings(max_tokens=100, overlap_tokens=10)
    before = chunk_text(TYPESCRIPT, language="typescript", settings=settings)
    edited = TYPESCRIPT.replace("res.status(204).end();", "res.status(202).json({ queued: true });")
    after = chunk_text(edited, language="typescript", settings=settings)
    keep_before = [c.text for c in before if c.symbol != "handler"]
    keep_after = [c.text for c in after if c.symbol != "handler"]
    assert keep_before == keep_after


def test_tsx_arriving_as_typescript_is_parsed_with_the_tsx_grammar() -> None:
    settings = ChunkSettings(max_tokens=40, overlap_tokens=4)
    chunks = chunk_text(TSX, language="typescript", settings=settings)
    _assert_well_formed(TSX, chunks, settings)
    assert "paragraph" not in {c.kind for c in chunks}
    assert any(c.symbol and "Greeting" in c.symbol for c in chunks)
    assert any(c.symbol and "List" in c.symbol for c in chunks)


def test_javascript_is_parsed() -> None:
    source = "function add(a, b) {\n  return a + b;\n}\n\nclass Box {\n  open() { return 1; }\n}\n"
    chunks = chunk_text(
        source, language="javascript", settings=ChunkSettings(max_tokens=14, overlap_tokens=2)
    )
    assert [c.symbol for c in chunks] == ["add", "Box"]
    assert {c.kind for c in chunks} == {"definition"}


# --- markdown and prose -------------------------------------------------------------


def test_markdown_splits_at_headings_with_heading_paths() -> None:
    settings = ChunkSettings(max_tokens=64, overlap_tokens=8)
    chunks = chunk_text(MARKDOWN, language="markdown", settings=settings)
    _assert_well_formed(MARKDOWN, chunks, settings)
    symbols = {part for c in chunks for part in (c.symbol or "").split(", ")}
    assert {
        "Headwater guide",
        "Headwater guide > Install",
        "Headwater guide > Sources",
        "Headwater guide > Sources > Adding a source",
        "Headwater guide > Sources > Syncing",
    } <= symbols
    # The comment inside the fenced block is not a heading, and the block stays whole.
    install = next(c for c in chunks if "Headwater guide > Install" in (c.symbol or ""))
    assert "# this comment is not a heading\npip install headwater\n\nheadwater up\n```" in (
        install.text
    )
    headings = {n for n, line in enumerate(MARKDOWN.splitlines(), 1) if line.startswith("#")}
    for chunk in chunks:
        if chunk.kind == "section":
            assert chunk.start_line in headings


def test_markdown_section_over_budget_splits_at_paragraphs() -> None:
    settings = ChunkSettings(max_tokens=64, overlap_tokens=8)
    chunks = chunk_text(MARKDOWN, language="markdown", settings=settings)
    adding = [c for c in chunks if c.symbol == "Headwater guide > Sources > Adding a source"]
    assert len(adding) >= 2
    assert all(c.kind == "paragraph" for c in adding)
    assert all(c.text.startswith("### Adding a source\n\n") for c in adding)
    assert any(c.text.endswith("so its runs never overlap.") for c in adding)
    assert any(c.text.endswith("so a resync of unchanged data is cheap.") for c in adding)


def test_prose_splits_at_paragraphs_then_sentences() -> None:
    settings = ChunkSettings(max_tokens=64, overlap_tokens=12)
    chunks = chunk_text(PROSE, language="text", settings=settings)
    _assert_well_formed(PROSE, chunks, settings)
    assert chunks[0].text.startswith("Rivers begin as rain")
    assert chunks[0].kind == "paragraph"
    windows = [c for c in chunks if c.kind == "window"]
    assert len(windows) >= 3
    for window in windows:
        assert window.text[-1] in ".!?", window.text
    # Forced splits overlap by whole sentences.
    last_sentences = [w.text.rsplit(". ", 1)[-1] for w in windows[:-1]]
    assert any(w.text.startswith(s) for w, s in zip(windows[1:], last_sentences, strict=False))
    assert chunks[-1].text.endswith("Downstream, the river slows and widens.")


def test_prose_without_breaks_uses_hard_windows() -> None:
    settings = ChunkSettings(max_tokens=20, overlap_tokens=5)
    for text in ("a" * 500, "川の源流は冷たく澄んでいる" * 40, "word " * 200):
        chunks = chunk_text(text, language=None, settings=settings)
        _assert_well_formed(text, chunks, settings)
        assert {c.kind for c in chunks} == {"window"}
        assert len(chunks) > 5


def test_other_code_splits_at_blank_line_blocks() -> None:
    source = (
        'package main\n\nimport "fmt"\n\nfunc add(a int, b int) int {\n\treturn a + b\n}\n\n'
        "func main() {\n\tfmt.Println(add(1, 2))\n}\n"
    )
    settings = ChunkSettings(max_tokens=16, overlap_tokens=2)
    chunks = chunk_text(source, language="go", settings=settings)
    _assert_well_formed(source, chunks, settings)
    assert {c.kind for c in chunks} == {"paragraph"}
    assert any(c.text.startswith("func add(") and c.text.endswith("}") for c in chunks)


# --- contract -------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["python", "typescript", "markdown", "text", "go", None])
@pytest.mark.parametrize("text", ["", " ", "\n\n\t \n", "\u3000\u00a0\n"])
def test_blank_input_gives_no_chunks(text: str, language: str | None) -> None:
    assert chunk_text(text, language=language, settings=ChunkSettings()) == []


@pytest.mark.parametrize(
    ("text", "language"),
    [(PYTHON, "python"), (TYPESCRIPT, "typescript"), (MARKDOWN, "markdown"), (PROSE, None)],
)
@pytest.mark.parametrize("max_tokens", [8, 33, 128, 2048])
def test_coverage_and_budget_hold_for_every_budget(
    text: str, language: str, max_tokens: int
) -> None:
    settings = ChunkSettings(max_tokens=max_tokens, overlap_tokens=max_tokens // 4)
    chunks = chunk_text(text, language=language, settings=settings)
    _assert_well_formed(text, chunks, settings)


@pytest.mark.parametrize(
    ("text", "language"),
    [(PYTHON, "python"), (TYPESCRIPT, "typescript"), (MARKDOWN, "markdown"), (PROSE, "text")],
)
def test_deterministic(text: str, language: str) -> None:
    first = chunk_text(text, language=language, settings=SMALL)
    second = chunk_text(text, language=language, settings=ChunkSettings(128, 16))
    assert first == second


def test_a_character_wider_than_the_budget_is_the_only_excess() -> None:
    chunks = chunk_text(
        "\U0001f30a", language=None, settings=ChunkSettings(max_tokens=1, overlap_tokens=0)
    )
    assert [c.text for c in chunks] == ["\U0001f30a"]
    assert chunks[0].token_count == 2


def test_settings_fingerprint_and_validation() -> None:
    assert ChunkSettings().fingerprint() == ChunkSettings(512, 64).fingerprint()
    assert CHUNKER_VERSION in ChunkSettings().fingerprint()
    assert ChunkSettings(256, 64).fingerprint() != ChunkSettings(512, 64).fingerprint()
    assert ChunkSettings(512, 0).fingerprint() != ChunkSettings(512, 64).fingerprint()
    with pytest.raises(ValueError, match="max_tokens"):
        ChunkSettings(max_tokens=0)
    with pytest.raises(ValueError, match="overlap_tokens"):
        ChunkSettings(max_tokens=64, overlap_tokens=64)


def _small_functions(count: int) -> str:
    rng = random.Random(11)
    return "\n\n".join(
        f"def step_{i}(value):\n"
        + "".join(f"    value = transform_{i}(value, {j})\n" for j in range(rng.randint(1, 6)))
        + "    return value\n"
        for i in range(count)
    )


# What this chunker version gives for the texts above, at four sizes (checked against
# main's pure-Python packing when it moved to C: anchors, packing, windows, contexts).
PINNED = "ddfdd22c"


def test_chunks_of_this_version_are_pinned() -> None:
    """Packing, anchors (CRC-32 of a unit's bytes), windows and contexts as they were: a
    change here must bump CHUNKER_VERSION."""
    texts = [
        (PYTHON, "python"),
        (_small_functions(120), "python"),
        (TYPESCRIPT, "typescript"),
        (MARKDOWN, "markdown"),
        (PROSE, "text"),
        (PYTHON, "ruby"),
    ]
    digest = hashlib.sha256()
    for max_tokens, overlap_tokens in ((512, 64), (100, 20), (24, 8), (2, 1)):
        settings = ChunkSettings(max_tokens=max_tokens, overlap_tokens=overlap_tokens)
        for text, language in texts:
            digest.update(repr(chunk_text(text, language=language, settings=settings)).encode())
    assert digest.hexdigest()[:8] == PINNED


def test_the_assembler_checks_what_it_is_given() -> None:
    out = Assembler(b"def f():\n    pass\n", 30, 3, BYTES_PER_TOKEN, Chunk, KIND_WINDOW)
    with pytest.raises(ValueError, match="not inside"):
        out.emit(0, 99, "definition", None, b"")
    with pytest.raises(ValueError, match="not inside"):
        out.windows(5, 2, None, b"", b"", None)
    with pytest.raises(ValueError, match="ascend"):
        out.windows(0, 9, None, b"", b"", [5, 3])
    with pytest.raises(TypeError):
        out.emit(0, 5, "definition", None, "not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Statement"):
        out.python([(0, 5)], "definition")  # type: ignore[list-item]
    with pytest.raises(ValueError, match="outside"):
        out.python([(99, 99, False, None, None, -1, -1)], "definition")  # type: ignore[list-item]
    with pytest.raises(TypeError, match="tuple subclass"):
        Assembler(b"", 30, 3, BYTES_PER_TOKEN, dict, KIND_WINDOW)  # type: ignore[arg-type]
    assert out.chunks == []
    out.emit(0, 17, "definition", "f", b"# ctx\n")
    assert out.chunks == [Chunk("# ctx\ndef f():\n    pass", 1, 2, 8, "definition", "f")]
