"""Chunker throughput next to its peers, all at the same chunk size.

    python -m benchmarks.chunkers [PATH] [--max-tokens 512] [--overlap-tokens 64]
                                  [--repeat 3] [--json]

PATH defaults to the standard library of this interpreter. `site-packages` and
`__pycache__` folders are skipped, and files that are not UTF-8 are decoded with
replacement characters.

Corpora:
- code: every `.py` file under PATH.
- prose: every `.txt`, `.rst` and `.md` file under PATH. The CPython stdlib holds little
  of it (about 0.45 MB, mostly numeric test tables), so when that is under 1 MB the
  docstrings of the `.py` files (read with `ast`) are added, one document each, as
  English prose; the report counts both parts.

Chunkers (same chunk size = max_tokens * BYTES_PER_TOKEN characters for the peers):
- headwater: `chunk_text` (code as "python"; prose as "markdown", "restructuredtext" or
  "text" by suffix, docstrings as "text").
- langchain: `RecursiveCharacterTextSplitter.from_language(Language.PYTHON)` for code, the
  plain `RecursiveCharacterTextSplitter` for prose, with the same overlap.
- chonkie: `RecursiveChunker` with its character tokenizer (it has no overlap).
- tree-sitter parse: parsing the code alone, what splitting at real definitions cost
  when the chunker parsed Python; not a chunker.
- python scan: `python_definitions.statements` alone (statements of each file and of its
  classes), the part of our chunker that finds Python's definitions; not a chunker.

Units: our budget is `max_tokens` estimated tokens of BYTES_PER_TOKEN UTF-8 bytes each,
counted from byte offsets with no tokenizer, and the peers count characters with no
tokenizer either, so all three work to the same length in the same way (characters and
bytes differ only on non-ASCII text: the report gives both totals). Our chunks also carry
their token counts and line numbers; the peers' carry less.

MB/s is UTF-8 megabytes of input over the best of `--repeat` timed passes of CPU time (and,
beside it, of wall time), input already in memory. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector_assets.chunking import BYTES_PER_TOKEN, ChunkSettings, chunk_text
from connector_assets.python_definitions import statements

SKIPPED_DIRS = frozenset({"site-packages", "__pycache__"})
PROSE_SUFFIXES = {".md": "markdown", ".rst": "restructuredtext", ".txt": "text"}
MIN_PROSE_BYTES = 1_000_000


@dataclass
class Document:
    """One text to chunk, with the language our chunker is told."""

    text: str
    language: str | None
    size: int  # UTF-8 bytes


@dataclass
class Corpus:
    """The code and prose documents of one tree, and how they were gathered."""

    code: list[Document] = field(default_factory=list)
    prose: list[Document] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(root).parts):
            yield path


def _document(data: bytes, language: str | None, notes: dict[str, int]) -> Document:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        notes["files_not_utf8"] = notes.get("files_not_utf8", 0) + 1
        text = data.decode("utf-8", "replace")
    return Document(text=text, language=language, size=len(text.encode("utf-8", "replace")))


def _docstrings(source: str) -> Iterator[str]:
    """Docstrings of a module and of its classes and functions, nested ones included."""
    pending: list[ast.AST] = [ast.parse(source)]
    while pending:
        node = pending.pop()
        for child in getattr(node, "body", []):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                pending.append(child)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node)
            if docstring:
                yield docstring


def load_corpus(root: Path) -> Corpus:
    """Read the code and prose corpora under `root` (see the module docstring)."""
    corpus = Corpus()
    for path in _files(root):
        suffix = path.suffix.lower()
        if suffix == ".py":
            corpus.code.append(_document(path.read_bytes(), "python", corpus.notes))
        elif suffix in PROSE_SUFFIXES:
            corpus.prose.append(_document(path.read_bytes(), PROSE_SUFFIXES[suffix], corpus.notes))
    corpus.notes["prose_files"] = len(corpus.prose)
    corpus.notes["prose_file_bytes"] = sum(d.size for d in corpus.prose)
    if corpus.notes["prose_file_bytes"] < MIN_PROSE_BYTES:
        docstrings = 0
        for document in corpus.code:
            try:
                found = list(_docstrings(document.text))
            except SyntaxError:
                # Test data written in old syntax: counted, its docstrings left out.
                corpus.notes["py_files_unparsable"] = corpus.notes.get("py_files_unparsable", 0) + 1
                continue
            for docstring in found:
                corpus.prose.append(Document(docstring, "text", len(docstring.encode())))
                docstrings += 1
        corpus.notes["docstrings"] = docstrings
        corpus.notes["docstring_bytes"] = (
            sum(d.size for d in corpus.prose) - corpus.notes["prose_file_bytes"]
        )
    return corpus


def _timed(
    documents: list[Document], split: Callable[[Document], list[str]], *, repeat: int
) -> dict[str, Any]:
    """Best-of-`repeat` throughput of `split` over `documents`, and what it produced.

    CPU time (this process, all threads) is the figure to compare on a shared machine;
    wall time is reported beside it.
    """
    size = sum(d.size for d in documents)
    best_cpu = best_wall = float("inf")
    pieces: list[str] = []
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        pieces = [piece for document in documents for piece in split(document)]
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    lengths = [len(piece) for piece in pieces] or [0]
    return {
        "mb_s": round(size / 1e6 / best_cpu, 2),
        "wall_mb_s": round(size / 1e6 / best_wall, 2),
        "cpu_s": round(best_cpu, 3),
        "wall_s": round(best_wall, 3),
        "chunks": len(pieces),
        "mean_chars": round(sum(lengths) / len(lengths)),
        "max_chars": max(lengths),
    }


def run(
    corpus: Path, *, max_tokens: int = 512, overlap_tokens: int = 64, repeat: int = 3
) -> dict[str, Any]:
    """Time every chunker on the code and prose corpora of `corpus`."""
    import tree_sitter
    import tree_sitter_python
    from chonkie import RecursiveChunker
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    loaded = load_corpus(corpus)
    settings = ChunkSettings(max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    chars = max_tokens * BYTES_PER_TOKEN
    overlap_chars = overlap_tokens * BYTES_PER_TOKEN
    langchain_code = RecursiveCharacterTextSplitter.from_language(
        Language.PYTHON, chunk_size=chars, chunk_overlap=overlap_chars
    )
    langchain_prose = RecursiveCharacterTextSplitter(chunk_size=chars, chunk_overlap=overlap_chars)
    chonkie = RecursiveChunker(tokenizer="character", chunk_size=chars)
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))

    def ours(document: Document) -> list[str]:
        chunks = chunk_text(document.text, language=document.language, settings=settings)
        return [chunk.text for chunk in chunks]

    def chonkie_split(document: Document) -> list[str]:
        return [chunk.text for chunk in chonkie.chunk(document.text)]

    def parse_only(document: Document) -> list[str]:
        parser.parse(document.text.encode("utf-8", "surrogatepass"))
        return []

    def scan_only(document: Document) -> list[str]:
        data = document.text.encode("utf-8", "surrogatepass") + b"\n"
        statements(data, 0, len(data))
        return []

    rows: list[dict[str, Any]] = []
    for name, documents, chunkers in (
        (
            "code",
            loaded.code,
            [
                ("headwater", ours),
                ("langchain", lambda d: langchain_code.split_text(d.text)),
                ("chonkie", chonkie_split),
                ("tree-sitter parse", parse_only),
                ("python scan", scan_only),
            ],
        ),
        (
            "prose",
            loaded.prose,
            [
                ("headwater", ours),
                ("langchain", lambda d: langchain_prose.split_text(d.text)),
                ("chonkie", chonkie_split),
            ],
        ),
    ):
        for chunker, split in chunkers:
            rows.append(
                {"corpus": name, "chunker": chunker, **_timed(documents, split, repeat=repeat)}
            )
    return {
        "corpus": str(corpus),
        "max_tokens": max_tokens,
        "overlap_tokens": overlap_tokens,
        "chunk_chars": chars,
        "overlap_chars": overlap_chars,
        "code_documents": len(loaded.code),
        "code_mb": round(sum(d.size for d in loaded.code) / 1e6, 2),
        "code_mchars": round(sum(len(d.text) for d in loaded.code) / 1e6, 2),
        "prose_documents": len(loaded.prose),
        "prose_mb": round(sum(d.size for d in loaded.prose) / 1e6, 2),
        "prose_mchars": round(sum(len(d.text) for d in loaded.prose) / 1e6, 2),
        "notes": loaded.notes,
        "rows": rows,
    }


def _write(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def print_table(report: dict[str, Any]) -> None:
    """Write `run`'s report as a table."""
    _write(
        f"chunkers on {report['corpus']}: {report['max_tokens']} tokens = "
        f"{report['chunk_chars']} chars (overlap {report['overlap_chars']} chars)"
    )
    _write(
        f"  code  {report['code_documents']} documents, {report['code_mb']} MB "
        f"({report['code_mchars']} M characters); prose {report['prose_documents']} documents, "
        f"{report['prose_mb']} MB ({report['prose_mchars']} M characters)"
    )
    _write(f"  {json.dumps(report['notes'])}")
    header = (
        f"{'corpus':<7}{'chunker':<19}{'MB/s CPU':>10}{'MB/s wall':>10}"
        f"{'chunks':>9}{'mean ch':>9}{'max ch':>9}"
    )
    _write(header)
    _write("-" * len(header))
    for row in report["rows"]:
        chunks = row["chunks"] if row["chunks"] else "-"
        mean = row["mean_chars"] if row["chunks"] else "-"
        longest = row["max_chars"] if row["chunks"] else "-"
        _write(
            f"{row['corpus']:<7}{row['chunker']:<19}{row['mb_s']:>10}{row['wall_mb_s']:>10}"
            f"{chunks:>9}{mean:>9}{longest:>9}"
        )


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", nargs="?", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--overlap-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="Timed passes; the best counts.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args()
    report = run(
        args.path,
        max_tokens=args.max_tokens,
        overlap_tokens=args.overlap_tokens,
        repeat=args.repeat,
    )
    if args.json:
        _write(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
