"""Structure-aware, token-budgeted chunking of normalized documents.

Code in Python, TypeScript (TSX included) and JavaScript is split at its top-level
definitions as tree-sitter parses them; a class (interface, enum, namespace, object
literal) over the budget is split at its members, with its header line repeated as
context. Python is not parsed: `python_definitions` scans it for the same statements a
clean parse gives, several times faster, and tree-sitter reads only what it refuses.
Other code splits at blank-line blocks, markdown at headings (an oversized section at
its paragraphs), prose at paragraphs. A unit that still does not fit is cut
into overlapping windows: at sentences or lines, and at a byte position only as a last
resort.

Small neighbours share a chunk, but where groups end is decided by the units' own bytes
(see `pack` in `_assembly.c`), so editing one definition leaves the chunks of the others
byte-identical: chunk ids downstream are hashes of chunk text.

Packing, windows and the chunks themselves are assembled in C (`_assembly.Assembler`)
for every language; this module finds the units of the languages that are not scanned
Python and splits their oversized units. Scanned Python is assembled in C throughout.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import tree_sitter
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_typescript

from connector_assets import python_definitions
from connector_assets._assembly import Assembler

# Bump whenever the chunks of an unchanged input and settings would change.
CHUNKER_VERSION = "2"

# Tokens are estimated as ceil(UTF-8 bytes / 3) instead of running a BPE tokenizer: it is
# free to compute from byte offsets and additive over ranges, so budgets are checked by
# subtraction. Calibrated with the default embedder's Llama-2 tokenizer (wordllama
# `l2_supercat`) on the CPython 3.11 stdlib: Python code 3.0 bytes/token, English
# docstrings 3.7, NEWS/LICENSE text 3.2. cl100k-style tokenizers pack more per token, so
# the estimate errs on the safe side for them. It under-counts scripts the tokenizer
# spells byte by byte (Hangul: 1.2 bytes/token) and over-counts Cyrillic (5.4).
BYTES_PER_TOKEN = 3

KIND_DEFINITION = "definition"
KIND_SECTION = "section"
KIND_PARAGRAPH = "paragraph"
KIND_WINDOW = "window"

# Normalized HTML and Word documents arrive as markdown text.
MARKDOWN_LANGUAGES = frozenset({"markdown", "mdx", "html", "docx"})
PROSE_LANGUAGES = frozenset({"text", "restructuredtext", "asciidoc", "latex", "pdf", "rtf"})
PARSED_LANGUAGES = frozenset({"python", "typescript", "tsx", "javascript", "jsx"})
_STRUCTURED_LANGUAGES = PARSED_LANGUAGES | MARKDOWN_LANGUAGES


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    """How large chunks may be, in estimated tokens, and how much forced splits overlap."""

    max_tokens: int = 512
    overlap_tokens: int = 64

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError(
                f"overlap_tokens must be in [0, max_tokens), got {self.overlap_tokens}"
            )

    def fingerprint(self) -> str:
        """A stable string naming the chunker version and these settings."""
        return (
            f"chunker={CHUNKER_VERSION};max_tokens={self.max_tokens};"
            f"overlap_tokens={self.overlap_tokens}"
        )


class Chunk(NamedTuple):
    """One chunk of a document; lines are 1-based and inclusive.

    A named tuple rather than a frozen dataclass: as immutable, and built several times
    faster (the chunker makes one per 1.5 kB of input).
    """

    text: str
    start_line: int
    end_line: int
    token_count: int
    kind: str
    symbol: str | None


def estimate_tokens(text: str) -> int:
    """The token estimate the chunker budgets with: ceil(UTF-8 bytes / BYTES_PER_TOKEN)."""
    return -(-len(text.encode("utf-8", "surrogatepass")) // BYTES_PER_TOKEN)


def chunk_text(text: str, *, language: str | None, settings: ChunkSettings) -> list[Chunk]:
    """Split `text` into chunks of at most `settings.max_tokens` estimated tokens.

    Only a character wider than the whole budget can exceed it. Whitespace-only input
    gives no chunks.
    """
    if not text or text.isspace():
        return []
    data = text.encode("utf-8", "surrogatepass")
    chunker = _Chunker(data, settings)
    lang = language.lower() if language else None
    if len(data) <= chunker.budget and lang not in _STRUCTURED_LANGUAGES:
        # One chunk either way; with no symbol to find, skip the block scan.
        chunker.emit_whole(kind=KIND_PARAGRAPH)
    elif lang == "python":
        chunker.python()
    elif lang in PARSED_LANGUAGES:
        chunker.parsed(lang)
    elif lang in MARKDOWN_LANGUAGES:
        chunker.markdown()
    elif lang is None or lang in PROSE_LANGUAGES:
        chunker.blocks(kind=KIND_PARAGRAPH, prose=True)
    else:
        chunker.blocks(kind=KIND_PARAGRAPH, prose=False)
    return chunker.chunks


# --- parsing -------------------------------------------------------------------------


@cache
def _language(name: str) -> tree_sitter.Language:
    if name == "python":
        return tree_sitter.Language(tree_sitter_python.language())
    if name == "typescript":
        return tree_sitter.Language(tree_sitter_typescript.language_typescript())
    if name == "tsx":
        return tree_sitter.Language(tree_sitter_typescript.language_tsx())
    return tree_sitter.Language(tree_sitter_javascript.language())


# Parsers keep per-parse state, so each thread gets its own; languages are shared.
_parsers = threading.local()


def _parser(name: str) -> tree_sitter.Parser:
    cached: dict[str, tree_sitter.Parser] | None = getattr(_parsers, "by_language", None)
    if cached is None:
        cached = _parsers.by_language = {}
    parser = cached.get(name)
    if parser is None:
        parser = cached[name] = tree_sitter.Parser(_language(name))
    return parser


def _parse(data: bytes, language: str) -> tree_sitter.Node | None:
    """The root of a clean parse, or None when the grammar found syntax errors.

    `.tsx` files arrive as "typescript": JSX is a syntax error there, so a failed
    TypeScript parse is retried with the TSX grammar (which rejects `<T>x` casts).
    """
    grammars = {"jsx": ["javascript"], "typescript": ["typescript", "tsx"]}.get(
        language, [language]
    )
    for grammar in grammars:
        root = _parser(grammar).parse(data).root_node
        if not root.has_error:
            return root
    return None


_CONTAINER_TYPES = frozenset(
    {
        "class_definition",
        "class_declaration",
        "abstract_class_declaration",
        "class",
        "interface_declaration",
        "enum_declaration",
        "internal_module",
        "module",
        "object",
    }
)
# Definitions (and class members) whose name becomes a chunk's symbol, by name field.
_NAME_FIELDS = {
    **dict.fromkeys(
        (
            "function_definition",
            "class_definition",
            "function_declaration",
            "generator_function_declaration",
            "class_declaration",
            "abstract_class_declaration",
            "interface_declaration",
            "type_alias_declaration",
            "enum_declaration",
            "internal_module",
            "module",
            "method_definition",
            "method_signature",
            "abstract_method_signature",
            "property_signature",
            "public_field_definition",
            "enum_assignment",
        ),
        "name",
    ),
    "field_definition": "property",
    "pair": "key",
}
_WRAPPER_FIELDS = {
    "decorated_definition": ("definition",),
    "export_statement": ("declaration", "value"),
}


def _declaration(node: tree_sitter.Node) -> tree_sitter.Node:
    """The definition inside decorators, `export`, `declare` and namespace statements."""
    while True:
        inner: tree_sitter.Node | None = None
        fields = _WRAPPER_FIELDS.get(node.type)
        if fields is not None:
            for field in fields:
                inner = node.child_by_field_name(field)
                if inner is not None:
                    break
        elif node.type == "ambient_declaration":
            inner = node.named_child(0)
        elif node.type == "expression_statement":
            inner = node.named_child(0)
            if inner is not None and inner.type not in ("internal_module", "module"):
                inner = None
        if inner is None:
            return node
        node = inner


def _container(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The class-like node a unit defines, when it has members to split at."""
    node = _declaration(node)
    if node.type in ("lexical_declaration", "variable_declaration"):
        declarator = node.named_child(0) if node.named_child_count == 1 else None
        value = declarator.child_by_field_name("value") if declarator is not None else None
        if value is None:
            return None
        node = value
    return node if node.type in _CONTAINER_TYPES else None


def _name(node: tree_sitter.Node) -> str | None:
    """The name a definition introduces; None for imports and other statements."""
    node = _declaration(node)
    kind = node.type
    if kind in ("lexical_declaration", "variable_declaration"):
        names = [
            child.child_by_field_name("name")
            for child in node.named_children
            if child.type == "variable_declarator"
        ]
        return ", ".join(_node_text(name) for name in names if name is not None) or None
    field = _NAME_FIELDS.get(kind)
    name = node.child_by_field_name(field) if field is not None else None
    return _node_text(name) if name is not None else None


def _node_text(node: tree_sitter.Node) -> str:
    text = node.text
    return text.decode("utf-8", "replace") if text is not None else ""


# --- the chunker -----------------------------------------------------------------------

_WHITESPACE = b" \t\n\r\f\v"
_BLANK_LINES = re.compile(rb"\n(?:[ \t\r\f\v]*\n)+")
# A sentence ends at . ! ? (after closing quotes/brackets) followed by whitespace, or at
# an ideographic full stop, exclamation or question mark.
_SENTENCE_END = re.compile(rb"[.!?][\"')\]]*[ \t\r\n]+|\xe3\x80\x82|\xef\xbc\x81|\xef\xbc\x9f")
_MARKDOWN_LINE = re.compile(
    rb"^[ ]{0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$"
    rb"|^[ ]{0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<title>[^\n]*?))?[ \t]*$"
    rb"|^(?P<setext>[ ]{0,3}\S[^\n]*)\n[ ]{0,3}(?P<under>=+|-+)[ \t]*$",
    re.MULTILINE,
)
_CLOSING_HASHES = re.compile(rb"[ \t]+#+$")


@dataclass(slots=True)
class _Unit:
    """A byte range that chunks never cut inside unless it alone exceeds the budget."""

    start: int
    end: int
    symbol: str | None = None
    node: tree_sitter.Node | None = None
    heading_end: int = -1  # markdown sections: where the heading line(s) end


class _Chunker:
    """Chunks of one UTF-8 document, appended to `chunks` in document order."""

    __slots__ = ("_out", "budget", "data")

    def __init__(self, data: bytes, settings: ChunkSettings) -> None:
        self.data = data
        self.budget = settings.max_tokens * BYTES_PER_TOKEN
        self._out = Assembler(
            data,
            self.budget,
            settings.overlap_tokens * BYTES_PER_TOKEN,
            BYTES_PER_TOKEN,
            Chunk,
            KIND_WINDOW,
        )

    @property
    def chunks(self) -> list[Chunk]:
        """The chunks so far, in document order."""
        return self._out.chunks

    # -- modes --

    def parsed(self, lang: str) -> None:
        """Top-level definitions as tree-sitter parses them; blank-line blocks if it cannot."""
        root = _parse(self.data, lang)
        if root is None:
            self.blocks(kind=KIND_PARAGRAPH, prose=False)
            return
        units = self._node_units(root.named_children, start=0, end=len(self.data), prefix="")
        self._out.pack_and_emit(units, KIND_DEFINITION, self._split_code, b"", b"")

    def python(self) -> None:
        """Top-level statements of Python source found by the scanner, no parse; parsed by
        tree-sitter when the scanner cannot be sure of them."""
        scan = self.data if self.data.endswith(b"\n") else self.data + b"\n"
        children = (
            None
            if python_definitions.bad_indentation(scan)
            else python_definitions.statements(scan, 0, len(scan))
        )
        if children is None:
            self.parsed("python")
            return
        # Units, packing, classes at their members, windows: all in `_assembly.c`.
        self._out.python(children, KIND_DEFINITION)

    def emit_whole(self, *, kind: str) -> None:
        """The whole document as one chunk."""
        self._out.emit(0, len(self.data), kind, None, b"")

    def blocks(self, *, kind: str, prose: bool) -> None:
        """Blank-line separated blocks: paragraphs of prose, or of unparsed code."""
        units = self._blocks(0, len(self.data), fences=())
        split = self._window_prose if prose else self._window_lines
        self._out.pack_and_emit(units, kind, split, b"", b"")

    def markdown(self) -> None:
        """Sections at headings, with the heading path as symbol."""
        units, fences = self._sections()

        def split(unit: _Unit, first: bytes, rest: bytes) -> None:
            self._split_section(unit, first, rest, fences=fences)

        self._out.pack_and_emit(units, KIND_SECTION, split, b"", b"")

    # -- units --

    def _node_units(
        self,
        nodes: Sequence[tree_sitter.Node],
        *,
        start: int,
        end: int,
        prefix: str,
        fallback: str | None = None,
    ) -> list[_Unit]:
        """Line-aligned units, one per node that starts below the previous one's last line.

        Each unit runs to the next one's start, so units cover [start, end) whatever
        sits between the nodes (comments, stray punctuation).
        """
        units: list[_Unit] = []
        last_row = -1
        for node in nodes:
            point = node.start_point
            if (
                units
                and point.row == last_row + 1
                and units[-1].node is not None
                and units[-1].node.type == "comment"
            ):
                # A comment right above a definition documents it: same unit.
                name = _name(node)
                units[-1].node = node
                units[-1].symbol = prefix + name if name is not None else fallback
            elif point.row > last_row:
                line_start = node.start_byte - point.column
                if units:
                    units[-1].end = line_start
                name = _name(node)
                symbol = prefix + name if name is not None else fallback
                units.append(_Unit(line_start, end, symbol, node))
            last_row = max(last_row, node.end_point.row)
        return self._cover(units, start, end)

    def _cover(self, units: list[_Unit], start: int, end: int) -> list[_Unit]:
        """`units` stretched to cover [start, end), trimmed of trailing blank space (`cover`
        in `_assembly.c` does the same for scanned Python)."""
        if not units:
            return [_Unit(start, self._rstrip(start, end))]
        units[0].start = start
        for unit in units:
            unit.end = self._rstrip(unit.start, unit.end)
        return [unit for unit in units if unit.end > unit.start]

    def _blocks(self, start: int, end: int, *, fences: Sequence[tuple[int, int]]) -> list[_Unit]:
        """Blank-line separated blocks of [start, end); no cut inside a fenced block."""
        units: list[_Unit] = []
        block_start = start
        fence = 0
        for match in _BLANK_LINES.finditer(self.data, start, end):
            at = match.start()
            while fence < len(fences) and fences[fence][1] <= at:
                fence += 1
            if fence < len(fences) and fences[fence][0] <= at:
                continue
            block_end = self._rstrip(block_start, at)
            if block_end > block_start:
                units.append(_Unit(block_start, block_end))
            block_start = match.end()
        block_end = self._rstrip(block_start, end)
        if block_end > block_start:
            units.append(_Unit(block_start, block_end))
        if units:
            units[0].start = start
        return units

    def _sections(self) -> tuple[list[_Unit], list[tuple[int, int]]]:
        """Markdown sections (the text before the first heading is one) and fenced blocks."""
        data = self.data
        scan_from = 0
        if data.startswith(b"---\n"):
            # YAML front matter would otherwise read as a setext heading.
            closing = data.find(b"\n---", 3)
            if closing != -1:
                scan_from = closing + 4
        headings: list[tuple[int, int, int, str]] = []
        fences: list[tuple[int, int]] = []
        open_fence: tuple[bytes, int] | None = None
        for match in _MARKDOWN_LINE.finditer(data, scan_from):
            marker = match["fence"]
            if marker is not None:
                if open_fence is None:
                    open_fence = (marker, match.start())
                elif (
                    marker[:1] == open_fence[0][:1]
                    and len(marker) >= len(open_fence[0])
                    and not match["info"].strip()
                ):
                    fences.append((open_fence[1], match.end()))
                    open_fence = None
                continue
            if open_fence is not None:
                continue
            hashes = match["hashes"]
            if hashes is not None:
                raw = _CLOSING_HASHES.sub(b"", match["title"] or b"")
                headings.append((match.start(), match.end(), len(hashes), _decode(raw).strip()))
            else:
                level = 1 if match["under"][:1] == b"=" else 2
                raw = match["setext"]
                headings.append((match.start(), match.end(), level, _decode(raw).strip()))
        if open_fence is not None:
            fences.append((open_fence[1], len(data)))

        units: list[_Unit] = []
        path: list[tuple[int, str]] = []
        if not headings or headings[0][0] > 0:
            units.append(_Unit(0, headings[0][0] if headings else len(data)))
        for index, (start, heading_end, level, title) in enumerate(headings):
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, title))
            end = headings[index + 1][0] if index + 1 < len(headings) else len(data)
            symbol = " > ".join(name for _, name in path if name) or None
            units.append(_Unit(start, end, symbol, heading_end=heading_end))
        for unit in units:
            unit.end = self._rstrip(unit.start, unit.end)
        return [unit for unit in units if unit.end > unit.start], fences

    # -- splitting oversized units --

    def _split_code(self, unit: _Unit, first: bytes, rest: bytes) -> None:
        """A class-like unit at its members, its header repeated as context; else windows.

        (Scanned Python's classes are split the same way in `_assembly.c`.)
        """
        definition = _container(unit.node) if unit.node is not None else None
        body: tree_sitter.Node | None = None
        if definition is not None:
            body = (
                definition
                if definition.type == "object"
                else definition.child_by_field_name("body")
            )
        if definition is None or body is None or body.named_child_count < 2:
            self._window_lines(unit, first, rest)
            return
        header = rest + self._header(definition, body) + b"\n"
        members = self._node_units(
            body.named_children,
            start=unit.start,
            end=unit.end,
            prefix=f"{unit.symbol}." if unit.symbol else "",
            fallback=unit.symbol,
        )
        if len(header) > self.budget // 2 or len(members) < 2:
            self._window_lines(unit, first, rest)
            return
        self._out.pack_and_emit(members, KIND_DEFINITION, self._split_code, first, header)

    def _header(self, definition: tree_sitter.Node, body: tree_sitter.Node) -> bytes:
        """The lines from a definition's first line to the line where its body opens."""
        line_start = definition.start_byte - definition.start_point.column
        opener = body.prev_sibling if definition.type == "class_definition" else body
        anchor = opener.start_byte if opener is not None else body.start_byte
        line_end = self.data.find(b"\n", anchor)
        return self.data[line_start : line_end if line_end != -1 else len(self.data)].rstrip()

    def _split_section(
        self, unit: _Unit, first: bytes, rest: bytes, *, fences: Sequence[tuple[int, int]]
    ) -> None:
        """An oversized markdown section at its paragraphs, its heading repeated as context."""
        paragraphs = self._blocks(unit.start, unit.end, fences=fences)
        if len(paragraphs) > 1 and paragraphs[0].end <= unit.heading_end:
            # A heading alone would be a tiny chunk: it opens its first paragraph's instead.
            paragraphs[1].start = paragraphs[0].start
            del paragraphs[0]
        for paragraph in paragraphs:
            paragraph.symbol = unit.symbol
        if unit.heading_end > unit.start:
            heading = rest + self.data[unit.start : unit.heading_end].rstrip() + b"\n\n"
            if len(heading) <= self.budget // 2:
                rest = heading
        if len(paragraphs) > 1:
            self._out.pack_and_emit(paragraphs, KIND_PARAGRAPH, self._window_prose, first, rest)
        elif paragraphs:
            self._window_prose(paragraphs[0], first, rest)

    def _window_lines(self, unit: _Unit, first: bytes, rest: bytes) -> None:
        """Windows over `unit` cut at lines (`windows` in `_assembly.c`)."""
        self._out.windows(unit.start, unit.end, unit.symbol, first, rest, None)

    def _window_prose(self, unit: _Unit, first: bytes, rest: bytes) -> None:
        """Windows over `unit` cut at sentence ends, else at lines."""
        sentences = [m.end() for m in _SENTENCE_END.finditer(self.data, unit.start, unit.end)]
        self._out.windows(unit.start, unit.end, unit.symbol, first, rest, sentences)

    def _rstrip(self, start: int, end: int) -> int:
        data = self.data
        while end > start and data[end - 1] in _WHITESPACE:
            end -= 1
        return end


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")
