"""Raw file bytes -> clean text or markdown, with title, language and MIME type.

Pure: no Dagster, no I/O. The parsers (pypdf, python-docx, selectolax, charset_normalizer)
are imported on first use: together they take about 0.2 s to import, which every
code-location load would otherwise pay, PDFs or not.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from typing import Any

from connector_assets.languages import detect_language

NORMALIZER_VERSION = "1"

# Git's own rule for "is this binary": a NUL byte near the start.
BINARY_SNIFF_BYTES = 8192

# UTF-32 LE before UTF-16 LE: the former's BOM starts with the latter's.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

BINARY_KINDS: dict[str, tuple[str, ...]] = {
    "image": (
        "png", "jpg", "jpeg", "gif", "bmp", "ico", "icns", "webp", "tif", "tiff", "psd",
        "heic", "heif", "avif", "raw", "cr2", "nef",
    ),
    "audio or video": (
        "mp3", "mp4", "m4a", "m4v", "wav", "ogg", "oga", "ogv", "flac", "aac", "opus", "avi",
        "mov", "mkv", "webm", "wmv", "flv",
    ),
    "archive": (
        "zip", "gz", "tgz", "bz2", "tbz2", "xz", "txz", "7z", "rar", "tar", "zst", "lz4",
        "lzma", "jar", "war", "ear", "whl", "egg", "apk", "deb", "rpm", "dmg", "iso", "msi",
        "cab",
    ),
    "executable or bytecode": (
        "exe", "dll", "so", "dylib", "o", "obj", "a", "lib", "bin", "elf", "class", "pyc",
        "pyo", "pyd", "wasm", "node",
    ),
    "font": ("ttf", "otf", "woff", "woff2", "eot"),
    "database or array data": (
        "sqlite", "sqlite3", "db", "mdb", "accdb", "parquet", "avro", "orc", "npy", "npz",
        "pkl", "pickle", "h5", "hdf5", "onnx", "pt", "pth", "safetensors", "ckpt", "tflite",
    ),
}  # fmt: skip
BINARY_EXTENSIONS: dict[str, str] = {
    extension: kind for kind, extensions in BINARY_KINDS.items() for extension in extensions
}

# Document formats that hold text we do not extract (yet).
UNSUPPORTED: dict[str, str] = {
    "doc": "Word 97-2003 documents",
    "dot": "Word 97-2003 templates",
    "xls": "Excel 97-2003 workbooks",
    "xlsx": "Excel workbooks",
    "xlsm": "Excel workbooks",
    "ppt": "PowerPoint 97-2003 presentations",
    "pptx": "PowerPoint presentations",
    "odt": "OpenDocument texts",
    "ods": "OpenDocument spreadsheets",
    "odp": "OpenDocument presentations",
    "rtf": "RTF documents",
    "epub": "EPUB books",
}

# Only signatures holding control or high bytes, so that no text file can start with one.
BINARY_MAGIC: tuple[bytes, ...] = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF
    b"MM\x00*",
    b"PK\x03\x04",  # zip (and every zip-based format not handled above)
    b"PK\x05\x06",
    b"\x1f\x8b",  # gzip
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\x7fELF",
    b"\xcf\xfa\xed\xfe",  # Mach-O
    b"\xce\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Java class, universal Mach-O
    b"\x00asm",
    b"SQLite format 3\x00",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # OLE: .doc, .xls, .msi
)

PDF_MIME = "application/pdf"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIME_TYPES: dict[str, str] = {
    "markdown": "text/markdown",
    "html": "text/html",
    "css": "text/css",
    "csv": "text/csv",
    "javascript": "text/javascript",
    "typescript": "text/x-typescript",
    "python": "text/x-python",
    "json": "application/json",
    "yaml": "application/yaml",
    "toml": "application/toml",
    "xml": "application/xml",
    "sql": "application/sql",
    "shell": "text/x-shellscript",
    "restructuredtext": "text/x-rst",
}

# Removed from HTML before conversion: code, styling and navigation, not content.
HTML_NOISE = ["script", "style", "noscript", "template", "nav", "iframe", "svg", "head"]
_HTML_BLOCKS = (
    "p div section article main aside header footer blockquote figure figcaption form "
    "fieldset table thead tbody tfoot dl dt dd ul ol details summary hr address center"
)
# What an element becomes around its content: (before, after).
HTML_MARKUP: dict[str, tuple[str, str]] = {
    **{tag: ("\n\n", "\n\n") for tag in _HTML_BLOCKS.split()},
    **{f"h{level}": (f"\n\n{'#' * level} ", "\n\n") for level in range(1, 7)},
    "li": ("\n- ", ""),
    "tr": ("\n", " |"),
    "td": ("| ", " "),
    "th": ("| ", " "),
    "br": ("\n", ""),
    "code": ("`", "`"),
}

_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACES = re.compile(r"\s+")
_SPACE_RUNS = re.compile(r" {2,}")
_LINE_EDGES = re.compile(r"[ \t]*\n[ \t]*")
_VERBATIM = re.compile(r"\x00(\d+)\x00")
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?)^(?:\1|\.\.\.)[ \t]*(?:\n|\Z)", re.S | re.M)
_FRONT_MATTER_TITLE = re.compile(r"^title[ \t]*[:=][ \t]*(.*?)[ \t]*$", re.M)
_ATX_H1 = re.compile(r" {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")
_SETEXT_H1 = re.compile(r" {0,3}=+[ \t]*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_DOCX_HEADING = re.compile(r"Heading ([1-9])")


@dataclass(frozen=True, slots=True)
class Normalized:
    """A file turned into text."""

    text: str  # clean text or markdown, "\n" newlines, no NUL
    title: str | None
    language: str | None
    mime_type: str
    encoding: str | None  # detected charset for text, None for binary formats


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that yields no document, and why."""

    reason: str  # "binary", "too_large", "empty", "undecodable", "unsupported", "parse_error"
    detail: str


def normalize(path: str, data: bytes, *, max_bytes: int = 5_000_000) -> Normalized | Skipped:
    """Decode and clean one file; PDF, DOCX and HTML are converted, markdown keeps its markup."""
    if len(data) > max_bytes:
        return Skipped("too_large", f"{len(data)} bytes is over the {max_bytes}-byte limit")
    if not data or data.isspace():
        return Skipped("empty", "The file is empty or holds only whitespace.")
    extension = _extension(path)
    language = detect_language(path, data[:256])
    if extension == "pdf" or data.startswith(b"%PDF-"):
        return _pdf(data)
    if extension == "docx":
        return _docx(data)
    if extension in UNSUPPORTED:
        return Skipped("unsupported", f"{UNSUPPORTED[extension]} (.{extension}) are not supported.")
    if extension in BINARY_EXTENSIONS:
        return Skipped("binary", f"A .{extension} file is binary ({BINARY_EXTENSIONS[extension]}).")
    if data.startswith(BINARY_MAGIC):
        return Skipped("binary", "The file starts with the signature of a binary format.")
    decoded = _decode(data)
    if isinstance(decoded, Skipped):
        return decoded
    text, encoding = decoded
    if language == "html":
        return _html(text, encoding=encoding)
    text = _clean(text)
    if not text or text.isspace():
        return Skipped("empty", f"The file holds only whitespace once decoded as {encoding}.")
    title = None
    if language == "markdown":
        text, title = _markdown(text)
        if not text or text.isspace():
            return Skipped("empty", "The markdown file holds only front matter.")
    return Normalized(
        text=text,
        title=title,
        language=language,
        mime_type=MIME_TYPES.get(language or "", "text/plain"),
        encoding=encoding,
    )


def _extension(path: str) -> str:
    stem, dot, extension = path.rpartition("/")[2].rpartition(".")
    return extension.lower() if dot and stem else ""


def _clean(text: str) -> str:
    # The membership tests are a fast scan; most files need neither replacement.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def _decode(data: bytes) -> tuple[str, str] | Skipped:
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                break  # a BOM followed by something else: judge the bytes themselves
    if data.find(b"\x00", 0, BINARY_SNIFF_BYTES) != -1:
        return Skipped("binary", f"NUL bytes in the first {BINARY_SNIFF_BYTES} bytes.")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # Detection only now: it costs far more than a decode, and nearly all files are UTF-8.
        return _detect_charset(data)


def _detect_charset(data: bytes) -> tuple[str, str] | Skipped:
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return Skipped("undecodable", "Not UTF-8, and no other encoding fits the bytes.")
    # Short Western European text often ties cp1250 with cp1252 and the tie goes by table
    # order (cp1250 first, turning è into č); cp1252 is by far the likelier legacy encoding.
    score = (best.chaos, best.coherence)
    tied = (m for m in matches if m.encoding == "cp1252" and (m.chaos, m.coherence) == score)
    best = next(tied, best)
    return str(best), best.encoding


def _markdown(text: str) -> tuple[str, str | None]:
    """Strip YAML (---) or TOML (+++) front matter; title from it, else the first H1."""
    title = None
    front = _FRONT_MATTER.match(text)
    if front is not None:
        text = text[front.end() :]
        match = _FRONT_MATTER_TITLE.search(front.group(2))
        if match is not None:
            title = _unquote(match.group(1))
    return text, title or _markdown_h1(text)


def _unquote(value: str) -> str | None:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    if value[:1] in ("|", ">"):
        return None  # a YAML block scalar (`title: >`): too rare to be worth a YAML parser
    return value.strip() or None


def _markdown_h1(text: str) -> str | None:
    fence = ""
    previous = ""
    for line in text.split("\n"):
        opened = _FENCE.match(line)
        if fence:
            if opened is not None and opened.group(1)[0] == fence[0]:
                fence = ""
        elif opened is not None:
            fence = opened.group(1)
        elif (atx := _ATX_H1.fullmatch(line)) is not None:
            return atx.group(1)
        elif previous.strip() and _SETEXT_H1.fullmatch(line) is not None:
            return previous.strip()
        previous = line
    return None


def _html(text: str, *, encoding: str) -> Normalized | Skipped:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(_clean(text))  # no NUL left: _html_markdown uses it as a marker
    title = _node_text(tree.css_first("title")) or _node_text(tree.css_first("h1"))
    tree.strip_tags(HTML_NOISE)
    root = tree.body or tree.root
    markdown = _html_markdown(root) if root is not None else ""
    if not markdown:
        return Skipped("empty", "The HTML page has no text outside scripts, styles and navigation.")
    return Normalized(
        text=markdown, title=title, language="html", mime_type="text/html", encoding=encoding
    )


def _html_markdown(root: Any) -> str:
    """Headings, list items, code and paragraphs of an HTML tree as markdown; links as text.

    A walk over selectolax's tree rather than markdownify: 5-10x faster on real pages
    (markdownify goes through BeautifulSoup, 1-2 MB/s), and the chunker needs only the
    headings, lists and code blocks it keeps. Iterative, so deep nesting cannot overflow.
    """
    out: list[str] = []
    verbatim: list[str] = []  # <pre> blocks, kept out of the whitespace collapsing below
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
            continue
        tag = node.tag
        if tag == "-text":
            out.append(_SPACES.sub(" ", node.text_content or ""))
            continue
        if tag == "pre":
            verbatim.append(node.text(deep=True).strip("\n"))
            out.append(f"\n\n\x00{len(verbatim) - 1}\x00\n\n")
            continue
        if tag == "img":
            # Alt text only: a data: URI would put megabytes of base64 into the text.
            out.append(node.attributes.get("alt") or "")
            continue
        opening, closing = HTML_MARKUP.get(tag, ("", ""))
        out.append(opening)
        if closing:
            stack.append(closing)
        if not node.is_comment_node:
            stack.extend(reversed(list(node.iter(include_text=True))))
    markdown = _LINE_EDGES.sub("\n", _SPACE_RUNS.sub(" ", "".join(out)))
    markdown = _BLANK_RUNS.sub("\n\n", markdown).strip()
    if verbatim:
        markdown = _VERBATIM.sub(lambda m: f"```\n{verbatim[int(m.group(1))]}\n```", markdown)
    return markdown


def _node_text(node: Any) -> str | None:
    if node is None:
        return None
    return " ".join(node.text().split()) or None


def _pdf(data: bytes) -> Normalized | Skipped:
    from pypdf import PdfReader

    # pypdf raises far more than PdfReadError on malformed files (KeyError, ValueError,
    # zlib.error, ...); whatever it raises is one unreadable file, reported with its message.
    try:
        reader = PdfReader(io.BytesIO(data))
        # An empty user password is how "encrypted" PDFs that open without a prompt work.
        if reader.is_encrypted and not reader.decrypt(""):
            return Skipped("parse_error", "PDF parse failed: it is encrypted with a password.")
        pages = [page.extract_text() for page in reader.pages]
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception as error:
        return Skipped("parse_error", f"PDF parse failed: {type(error).__name__}: {error}")
    text = "\n\n".join(page for page in (_clean(p).strip() for p in pages) if page)
    if not text:
        return Skipped("empty", f"The PDF's {len(pages)} pages hold no extractable text.")
    return Normalized(
        text=text,
        title=(title or "").strip() or None,
        language="pdf",
        mime_type=PDF_MIME,
        encoding=None,
    )


def _docx(data: bytes) -> Normalized | Skipped:
    import docx

    # As for PDFs: a broken package fails in zipfile, lxml or python-docx, with their own types.
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [_docx_block(block) for block in document.iter_inner_content()]
        title = (document.core_properties.title or "").strip() or None
    except Exception as error:
        return Skipped("parse_error", f"DOCX parse failed: {type(error).__name__}: {error}")
    text = _clean("\n\n".join(block for block in blocks if block))
    if not text:
        return Skipped("empty", "The DOCX document holds no text.")
    if title is None:
        title = next((b[2:] for b in blocks if b.startswith("# ")), None)
    return Normalized(text=text, title=title, language="docx", mime_type=DOCX_MIME, encoding=None)


def _docx_block(block: Any) -> str:
    """A paragraph as markdown (heading, list item or prose), or a table as markdown rows."""
    from docx.table import Table

    if isinstance(block, Table):
        return _docx_table(block)
    text = block.text.strip()
    style = block.style.name if text and block.style is not None else ""
    if style == "Title":
        return f"# {text}"
    if (heading := _DOCX_HEADING.fullmatch(style)) is not None:
        return f"{'#' * min(int(heading.group(1)), 6)} {text}"
    if style.startswith("List Bullet"):
        return f"- {text}"
    if style.startswith("List Number"):
        return f"1. {text}"
    return text


def _docx_table(table: Any) -> str:
    rows = [
        [" ".join(cell.text.split()).replace("|", "\\|") for cell in row.cells]
        for row in table.rows
    ]
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    lines = [f"| {' | '.join(row)} |" for row in rows]
    lines.insert(1, f"|{' --- |' * len(rows[0])}")
    return "\n".join(lines)
