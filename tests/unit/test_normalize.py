"""normalize() over real PDF, DOCX, HTML, markdown, legacy-encoded and binary inputs."""

from __future__ import annotations

import io
import zlib

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from connector_assets.normalize import DOCX_MIME, PDF_MIME, Normalized, Skipped, normalize
from tests.documents import make_pdf


def _encrypted(pdf: bytes, *, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _docx(*, core_title: str = "") -> bytes:
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_heading("Quarterly report", level=0)
    document.add_paragraph("Revenue grew in every region.")
    document.add_heading("Results", level=1)
    document.add_heading("By region", level=2)
    document.add_paragraph("North", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Region", (0, 1): "Growth", (1, 0): "North|East"}.items():
        table.cell(row, col).text = text
    table.cell(1, 1).text = "12%"
    document.add_paragraph("Closing remarks.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _ok(result: Normalized | Skipped) -> Normalized:
    assert isinstance(result, Normalized), result
    return result


def _skipped(result: Normalized | Skipped, reason: str) -> Skipped:
    assert isinstance(result, Skipped), result
    assert result.reason == reason, result
    return result


def test_plain_utf8_text_comes_back_unchanged() -> None:
    source = "def greet(name: str) -> str:\n    return f'héllo {name}'\n"
    result = _ok(normalize("pkg/greet.py", source.encode()))
    assert result == Normalized(
        text=source, title=None, language="python", mime_type="text/x-python", encoding="utf-8"
    )


def test_crlf_and_lone_cr_become_lf() -> None:
    result = _ok(normalize("notes.txt", b"one\r\ntwo\rthree\r\n"))
    assert result.text == "one\ntwo\nthree\n"


def test_nul_past_the_sniffed_prefix_is_stripped() -> None:
    data = b"a" * 9000 + b"\x00tail\n"
    result = _ok(normalize("log.txt", data))
    assert "\x00" not in result.text
    assert result.text.endswith("atail\n")


def test_latin1_text_is_detected_and_decoded() -> None:
    source = "Café crème brûlée, naïve façade. Le garçon a mangé à l'hôtel.\nÉté agréable.\n"
    result = _ok(normalize("menu.txt", source.encode("latin-1")))
    assert result.text == source
    assert result.encoding is not None
    assert result.encoding not in ("utf-8", "ascii")


def test_utf16_with_bom_and_crlf() -> None:
    data = "Grüße\r\nà bientôt\r\n".encode("utf-16")
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    result = _ok(normalize("greeting.txt", data))
    assert result.text == "Grüße\nà bientôt\n"
    assert result.encoding == "utf-16"


def test_utf8_bom_is_dropped() -> None:
    result = _ok(normalize("a.txt", b"\xef\xbb\xbfhello\n"))
    assert result.text == "hello\n"
    assert result.encoding == "utf-8-sig"


def test_binary_blob_with_nul_bytes() -> None:
    blob = zlib.compress(bytes(range(256)) * 64) + b"\x00\x01\x02"
    result = _skipped(normalize("data/blob", blob), "binary")
    assert "NUL" in result.detail


def test_binary_by_extension_and_by_magic() -> None:
    assert "image" in _skipped(normalize("logo.png", b"not even a png"), "binary").detail
    assert _skipped(normalize("mod.cpython-311.pyc", b"\xa7\r\r\nabc"), "binary")
    elf = _skipped(normalize("bin/tool", b"\x7fELF" + b"\x02\x01\x01" * 100), "binary")
    assert "signature" in elf.detail


def test_bytes_that_fit_no_encoding_are_undecodable() -> None:
    _skipped(normalize("weird.dat", bytes(range(128, 256)) * 10), "undecodable")


def test_utf16_without_bom_counts_as_binary() -> None:
    # Documented limit: without a BOM, UTF-16's NUL bytes look like any binary file's.
    _skipped(normalize("legacy.txt", "plain ascii".encode("utf-16-le")), "binary")


def test_oversized_input_is_skipped_before_any_work() -> None:
    result = _skipped(normalize("big.txt", b"x" * 101, max_bytes=100), "too_large")
    assert "101" in result.detail
    assert _ok(normalize("big.txt", b"x" * 100, max_bytes=100)).text == "x" * 100


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("empty.py", b""),
        ("blank.md", b"  \n\t\r\n"),
        ("blank16.txt", "  \n ".encode("utf-16")),
        ("empty.pdf", b""),
        ("only-front-matter.md", b"---\ntitle: Draft\n---\n\n"),
    ],
)
def test_empty_or_whitespace_only(path: str, data: bytes) -> None:
    _skipped(normalize(path, data), "empty")


def test_unsupported_office_format() -> None:
    result = _skipped(normalize("budget.xlsx", b"PK\x03\x04whatever"), "unsupported")
    assert ".xlsx" in result.detail


def test_pdf_pages_joined_with_blank_line_and_title_from_metadata() -> None:
    result = _ok(
        normalize("docs/spec.pdf", make_pdf("Hello PDF world", "Second page", title="Spec"))
    )
    assert result.text == "Hello PDF world\n\nSecond page"
    assert result.title == "Spec"
    assert (result.language, result.mime_type, result.encoding) == ("pdf", PDF_MIME, None)


def test_pdf_recognized_by_magic_without_extension() -> None:
    result = _ok(normalize("downloads/file", make_pdf("By magic")))
    assert result.text == "By magic"
    assert result.title is None
    assert result.mime_type == PDF_MIME


def test_pdf_with_user_password_is_a_parse_error() -> None:
    locked = _encrypted(make_pdf("Secret text"), user_password="s3cret")
    result = _skipped(normalize("locked.pdf", locked), "parse_error")
    assert "encrypted" in result.detail


def test_pdf_encrypted_with_empty_user_password_still_opens() -> None:
    pdf = _encrypted(make_pdf("Readable anyway"), user_password="")
    assert PdfReader(io.BytesIO(pdf)).is_encrypted
    assert _ok(normalize("owner-only.pdf", pdf)).text == "Readable anyway"


def test_broken_pdf_reports_what_pypdf_said() -> None:
    result = _skipped(normalize("broken.pdf", make_pdf("Hello")[:120]), "parse_error")
    assert result.detail.startswith("PDF parse failed: ")
    assert len(result.detail) > len("PDF parse failed: ")


def test_docx_headings_lists_and_tables_as_markdown() -> None:
    result = _ok(normalize("reports/q3.docx", _docx()))
    assert result.text == (
        "# Quarterly report\n\n"
        "Revenue grew in every region.\n\n"
        "# Results\n\n"
        "## By region\n\n"
        "- North\n\n"
        "| Region | Growth |\n| --- | --- |\n| North\\|East | 12% |\n\n"
        "Closing remarks."
    )
    assert result.title == "Quarterly report"  # no core title: the first level-1 heading
    assert (result.language, result.mime_type, result.encoding) == ("docx", DOCX_MIME, None)


def test_docx_title_from_core_properties() -> None:
    assert _ok(normalize("q3.docx", _docx(core_title="Q3 Report"))).title == "Q3 Report"


def test_broken_docx_reports_what_the_parser_said() -> None:
    result = _skipped(normalize("broken.docx", b"PK\x03\x04 not a real package"), "parse_error")
    assert result.detail.startswith("DOCX parse failed: ")


HTML = b"""<!doctype html>
<html><head><title>  Release   notes </title>
<style>body { color: red }</style><script>var tracking = 1;</script></head>
<body>
<nav><a href="/">Home</a> <a href="/docs">Docs</a></nav>
<h1>Version 2.0</h1>
<p>Faster <b>sync</b> for   snake_case
   names, see the <a href="https://example.com/changelog">changelog</a>.</p>
<img alt="throughput chart" src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUg">
<ul><li>New <code>sync()</code> API</li><li>Fewer retries</li></ul>
<pre><code>def sync():
    return 2</code></pre>
<script>alert("hi")</script>
</body></html>"""


def test_html_drops_script_style_nav_and_keeps_structure() -> None:
    result = _ok(normalize("site/release.html", HTML))
    assert result.text == (
        "# Version 2.0\n\n"
        "Faster sync for snake_case names, see the changelog.\n\n"
        "throughput chart\n\n"
        "- New `sync()` API\n"
        "- Fewer retries\n\n"
        "```\ndef sync():\n    return 2\n```"
    )
    assert result.title == "Release notes"
    assert (result.language, result.mime_type, result.encoding) == ("html", "text/html", "utf-8")


def test_html_title_falls_back_to_h1() -> None:
    result = _ok(normalize("page.htm", b"<body><h1>Only  heading</h1><p>Body.</p></body>"))
    assert result.title == "Only heading"


def test_html_with_only_scripts_is_empty() -> None:
    _skipped(normalize("app.html", b"<html><script>boot()</script><nav>Menu</nav></html>"), "empty")


def test_markdown_front_matter_stripped_and_its_title_used() -> None:
    data = b'---\ntitle: "Getting started"\ntags: [intro]\n---\n# Install\r\n\r\nRun it.\r\n'
    result = _ok(normalize("docs/start.md", data))
    assert result.text == "# Install\n\nRun it.\n"
    assert result.title == "Getting started"
    assert (result.language, result.mime_type) == ("markdown", "text/markdown")


def test_markdown_title_is_first_h1_outside_code_fences() -> None:
    data = b"Intro line.\n\n```bash\n# not a heading\n```\n\n## Sub\n\n# Real Title #\n"
    result = _ok(normalize("README.md", data))
    assert result.title == "Real Title"
    assert result.text == data.decode()


def test_markdown_setext_heading_and_toml_front_matter() -> None:
    data = b"+++\ndraft = true\n+++\nGuide\n=====\n\nText.\n"
    result = _ok(normalize("guide.mdx", data))
    assert result.text == "Guide\n=====\n\nText.\n"
    assert result.title == "Guide"


def test_markdown_without_heading_has_no_title() -> None:
    assert _ok(normalize("CHANGES.md", b"- fixed a bug\n")).title is None
