"""The Python statement scanner: tricky source, and agreement with tree-sitter on the stdlib.

The chunker splits Python at the statements `python_definitions.statements` finds and
parses with tree-sitter only when the scanner cannot be sure. Over real stdlib modules
the scanner must give the chunks a clean tree-sitter parse gives (at the default budget
and at a small one, where most units stand alone and most classes are split).
"""

from __future__ import annotations

import itertools
import sysconfig
from pathlib import Path

import pytest

from connector_assets import chunking
from connector_assets.chunking import ChunkSettings, chunk_text
from connector_assets.python_definitions import Statement, bad_indentation, statements

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Varied modules: tricky strings (tokenize, f-strings, string literals, a 750 kB dict of
# docs), comment-heavy classes, decorators, nested classes, async code, odd grammar.
MODULES = (
    "tokenize.py",
    "textwrap.py",
    "test/test_fstring.py",
    "test/test_string_literals.py",
    "test/test_grammar.py",
    "shlex.py",
    "pydoc_data/topics.py",
    "typing.py",
    "_pyio.py",
    "aifc.py",
    "unittest/async_case.py",
    "email/charset.py",
    "email/_header_value_parser.py",
    "asyncio/tasks.py",
    "collections/__init__.py",
    "dataclasses.py",
    "enum.py",
    "functools.py",
    "argparse.py",
    "keyword.py",
    "json/decoder.py",
    "re/_parser.py",
    "string.py",
    "test/test_keywordonlyarg.py",
    "difflib.py",
    "lib2to3/pgen2/tokenize.py",
    "concurrent/futures/thread.py",
    "dbm/dumb.py",
    "urllib/request.py",
    "test/test_unparse.py",
)
SETTINGS = ChunkSettings()
SMALL = ChunkSettings(max_tokens=60, overlap_tokens=12)


def _starts(children: list[Statement] | None) -> list[tuple[int, bool, str | None]]:
    assert children is not None
    return [(child.start, child.comment, child.name) for child in children]


def _scan(source: str) -> list[Statement] | None:
    data = source.encode()
    return statements(data, 0, len(data))


def _parsed_chunks(data: bytes, settings: ChunkSettings = SETTINGS) -> list[chunking.Chunk]:
    """The chunks of the tree-sitter path, which the scanner stands in for."""
    assert chunking._parse(data, "python") is not None, "tree-sitter found a syntax error"
    parsed = chunking._Chunker(data, settings)
    parsed.parsed("python")
    return parsed.chunks


def test_stdlib_modules_split_as_tree_sitter_splits_them() -> None:
    present = [STDLIB / name for name in MODULES if (STDLIB / name).is_file()]
    assert len(present) >= 25, f"stdlib at {STDLIB} lacks most of the sample"
    for path in present:
        data = path.read_bytes().decode("utf-8", "replace").encode("utf-8", "surrogatepass")
        scan = data if data.endswith(b"\n") else data + b"\n"
        assert statements(scan, 0, len(scan)) is not None, path
        # The small budget packs few units per chunk and splits most classes: a unit
        # boundary that differs shows.
        for settings in (SETTINGS, SMALL):
            assert chunk_text(data.decode(), language="python", settings=settings) == (
                _parsed_chunks(data, settings)
            ), path


def test_a_definition_inside_a_string_is_no_statement() -> None:
    source = (
        'x = """\ndef fake():\n    pass\n"""\n'
        "y = '''\nclass Fake:\n'''\n"
        "def real():\n    pass\n"
    )
    assert _starts(_scan(source)) == [
        (0, False, None),
        (source.index("y ="), False, None),
        (source.index("def real"), False, "real"),
    ]


def test_brackets_across_lines_hold_one_statement() -> None:
    source = (
        "x = call(\n[1,\n{2: (3,\ndef_)}],\n# not a statement\nclass_=4,\n)\n"
        "class Real:\n    pass\n"
    )
    assert _starts(_scan(source)) == [(0, False, None), (source.index("class Real"), False, "Real")]


def test_only_a_class_keyword_opens_a_class_body() -> None:
    source = (
        "class_ = 1\nclassify(x)\nclass A: pass\n"
        "class B(A):  # header\n    # leading\n    x = 1\n\n    def f(self):\n        return 2\n"
    )
    children = _scan(source)
    assert _starts(children) == [
        (0, False, None),
        (source.index("classify"), False, None),
        (source.index("class A"), False, "A"),
        (source.index("class B"), False, "B"),
    ]
    assert children is not None and children[2].members is None
    assert _starts(children[3].members) == [
        (source.index("    x = 1"), False, None),
        (source.index("    def f"), False, "f"),
    ]
    assert children[3].header_end == source.index("    x = 1")
    assert chunk_text(
        source, language="python", settings=ChunkSettings(max_tokens=12, overlap_tokens=2)
    ) == (_parsed_chunks(source.encode(), ChunkSettings(max_tokens=12, overlap_tokens=2)))


def test_decorators_and_comments_between_them_belong_to_the_definition() -> None:
    source = "@first\n@second(\n    1)\n# about f\n\nasync def f():\n    pass\n"
    assert _starts(_scan(source)) == [(0, False, "f")]


def test_f_strings_with_nested_quotes_and_prefixes() -> None:
    source = (
        "a = f\"{d['def x']!r:>{width}}\"\n"
        "b = rb'\\'class Y'\n"
        "c = F'''{\"def z\"}\n"
        "def inside(): '''\n"
        'd = Rb"""\\"""" # """\n'
        "def last():\n    pass\n"
    )
    found = _starts(_scan(source))
    assert [name for _, _, name in found] == [None, None, None, None, "last"]


def test_backslash_continuations_join_lines() -> None:
    source = "assert x, \\\n'class Z'\ns = 'abc\\\ndef g(): pass'\ndef h():\n    pass\n"
    assert [name for _, _, name in _starts(_scan(source))] == [None, None, "h"]


def test_clauses_continue_their_statement() -> None:
    source = (
        "try:\n    a()\nexcept E:\n    pass\nelse:\n    b()\nfinally:\n    c()\n"
        "if x:\n    pass\nelif y:\n    pass\n"
    )
    assert _starts(_scan(source)) == [(0, False, None), (source.index("if x"), False, None)]


def test_comments_go_where_tree_sitter_puts_them() -> None:
    source = (
        "# header\n"
        "class A:\n"
        "    # leading: outside the body\n"
        "    x = 1\n"
        "    def f(self):\n"
        "        return 1\n"
        "        # in f's body\n"
        "    # A's member\n"
        "    def g(self):\n"
        "        pass\n"
        "# module level\n"
        "def h():\n"
        "    pass\n"
    )
    top = _starts(_scan(source))
    assert top == [
        (0, True, None),
        (source.index("class A"), False, "A"),
        (source.index("# module"), True, None),
        (source.index("def h"), False, "h"),
    ]
    data = source.encode()
    scanned = _scan(source)
    assert scanned is not None
    members = scanned[1].members
    assert _starts(members) == [
        (data.index(b"    x = 1"), False, None),
        (data.index(b"    def f"), False, "f"),
        (data.index(b"    # A's"), True, None),
        (data.index(b"    def g"), False, "g"),
    ]
    assert members is not None
    assert members[1].end == data.index(b"    # A's")  # f's trailing comment is f's


@pytest.mark.parametrize(
    "source",
    ["x = 'unterminated\ndef f(): pass\n", "x = (1,\n", "x = 1)\n", "x = 1 \\ 2\n"],
)
def test_source_that_does_not_scan_is_refused(source: str) -> None:
    assert _scan(source) is None


def test_refused_or_tab_indented_source_falls_back_to_tree_sitter() -> None:
    body = "".join(f"def f{n}(x):\n\treturn x + {n} * {'y' * 40!r}\n\n\n" for n in range(40))
    assert bad_indentation(body.encode())
    settings = ChunkSettings(max_tokens=64, overlap_tokens=8)
    chunks = chunk_text(body, language="python", settings=settings)
    assert chunks == _parsed_chunks(body.encode(), settings)
    assert all(chunk.symbol and chunk.symbol.startswith("f") for chunk in chunks)


@pytest.mark.parametrize(
    ("source", "names"),
    [
        (b"x = f\"{f'{y!r:>{w}}'}\" f'}}{{'\ndef a(): pass\n", [None, "a"]),
        (b"s = '''it''s \\''' '''\nt = \"\"\"a\"\"b\\\"\"\"\"\ndef b(): pass\n", [None, None, "b"]),
        (b"x = 1 + \\\r\n    2\r\ndef c():\r\n    pass\r\n\r\n# end\r\n", [None, "c", None]),
        (b"x = [  # ]\n  1,\n'\\\n]'\n]\ndef d(): pass\n", [None, "d"]),
        (b"@dec(\n  ')'\n)  # (\n\n@other\nclass E:\n    pass\n", ["E"]),
        (b"def f():\n\tif x:\n\t\treturn 1\n\telse:\n\t\treturn 2\ndef g(): pass\n", ["f", "g"]),
        (b"x = '\xff'  # \xfe\ndef h\xc3\xa9(): pass\n", [None, "h\xe9"]),
        (b"if x:\n    pass\nelsewhere = 1\nelse_ = 2\n", [None, None, None]),
        (b"x = " + b"(" * 13 + b")" * 13 + b"\nasync  def i(): pass\n", [None, "i"]),
        (b"x = " + b"(" * 14 + b")" * 14 + b"\n", None),
        (b"x = '''never closed\n", None),
    ],
    ids=[
        "nested-f-strings",
        "triple-quotes",
        "crlf-continuation",
        "brackets-comments-strings",
        "decorated-class",
        "tabs",
        "non-utf8-bytes",
        "clause-prefixes",
        "13-brackets",
        "14-brackets",
        "unterminated-triple",
    ],
)
def test_tricky_lexing(source: bytes, names: list[str | None] | None) -> None:
    children = statements(source, 0, len(source))
    if names is None:
        assert children is None
        return
    assert children is not None
    assert [child.name for child in children] == names
    assert children[0].start == 0
    assert all(a.end <= b.start for a, b in itertools.pairwise(children))


def test_statements_are_tuples_with_named_fields() -> None:
    source = b"# c\n@d\nclass A:\n    # lead\n    x = 1\n    y = 2\n"
    children = statements(source, 0, len(source))
    assert children is not None
    comment, cls = children
    assert tuple(comment) == (0, 4, True, None, None, -1, -1)
    assert cls[:4] == (4, len(source), False, "A") == (cls.start, cls.end, cls.comment, cls.name)
    assert (cls.line_start, cls.header_end) == (7, source.index(b"    x"))
    assert cls.members is not None
    assert [tuple(member)[:4] for member in cls.members] == [
        (source.index(b"    x"), source.index(b"    y"), False, None),
        (source.index(b"    y"), len(source), False, None),
    ]
