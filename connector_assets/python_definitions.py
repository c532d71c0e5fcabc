"""Statement boundaries of Python source found by one regular-expression pass.

`statements` lists the children a clean tree-sitter parse gives one block (the module,
or a class body) as line-aligned rows: each statement's first line (decorators
included), and each comment line that belongs to that block, with the name and kind a
definition introduces. It skips string literals (every prefix, single and triple quotes;
f-strings as 3.11 writes them), comments, bracketed spans across lines and backslash
continuations, all inside the compiled pattern, so Python code runs once per statement
of the block, not per token. Comments follow tree-sitter's placement: a comment belongs
to the block of the next statement, except between decorators and their definition.

It returns None when the text does not scan cleanly (an unterminated string, unbalanced
or too deeply nested brackets, a stray backslash or closing bracket, a tab or form feed
in indentation): the caller then parses with tree-sitter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

_MAX_BRACKET_DEPTH = 12
_STRING = (
    rb"'''[^'\\]*+(?:(?:\\.|'(?!''))[^'\\]*+)*+'''"
    rb'|"""[^"\\]*+(?:(?:\\.|"(?!""))[^"\\]*+)*+"""'
    rb"|'[^'\\\n]*+(?:\\.[^'\\\n]*+)*+'"
    rb'|"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"'
)


def _bracketed(depth: int) -> bytes:
    """A bracketed span holding strings, comments and up to `depth` nested spans."""
    inner = rb"[^'\"#()\[\]{}]++|" + _STRING + rb"|#[^\n]*+"
    if depth:
        inner += rb"|" + _bracketed(depth - 1)
    return rb"[(\[{](?:" + inner + rb")*+[)\]}]"


# The rest of a logical line after its indentation, through its newline.
_REST = (
    rb"(?:[^\n'\"#\\()\[\]{}]++|"
    + _STRING
    + rb"|"
    + _bracketed(_MAX_BRACKET_DEPTH)
    + rb"|\\\r?\n)*+(?:#[^\n]*+)?\n"
)
_BLANK_OR_COMMENT = rb"[ \t\f\r]*+(?:#[^\n]*+)?\n"
_CLAUSE = rb"(?:else|elif|except|finally)\b"


@cache
def _statement_pattern(indent: bytes) -> re.Pattern[bytes]:
    """One statement at exactly `indent`: its decorators, its lines, and what follows.

    `lead` is blank and comment lines before it (only the block's first statement has
    them); `trail` is blank and comment lines after its last line of code; `name` is
    what a `def` or `class` (`is_class`) defines.
    """
    ind = re.escape(indent)
    # Lines of the statement after its first: deeper ones, and its else/except clauses.
    more_code = ind + rb"(?:[ \t]" + _REST + rb"|" + _CLAUSE + _REST + rb")"
    return re.compile(
        rb"(?P<lead>(?:" + _BLANK_OR_COMMENT + rb")*+)"
        rb"(?P<decorators>(?:" + ind + rb"@" + _REST + rb"(?:" + _BLANK_OR_COMMENT + rb")*+)*+)"
        rb"(?P<head>" + ind + rb"(?!" + _CLAUSE + rb")(?=[^\s#])"
        rb"(?:(?:(?P<is_class>class)|(?:async[ \t]++)?def)[ \t]++"
        rb"(?P<name>[A-Za-z_\x80-\xff][\w\x80-\xff]*+))?" + _REST + rb")"
        rb"(?:(?:" + _BLANK_OR_COMMENT + rb")*+" + more_code + rb")*+"
        rb"(?P<trail>(?:" + _BLANK_OR_COMMENT + rb")*+)",
        re.DOTALL,
    )


# The indentation of the first line of code (a block's body when it is deeper).
BODY_INDENT = re.compile(rb"(?:[ \t\f\r]*+(?:#[^\n]*+)?\n)*+([ \t]*+)[^\s#]")
_COMMENT_LINE = re.compile(rb"[ \t\f\r]*+#[^\n]*+\n|[ \t\f\r]*+\n")
# A line of code (not blank, not a comment) indented with a tab or form feed.
_BAD_INDENT = re.compile(rb"^[ ]*+[\t\f][ \t\f]*+[^\s#]", re.MULTILINE)


@dataclass(slots=True)
class Statement:
    """One child of a block: where its first line starts and what it defines.

    `header_end` (classes only) is where the `class ...:` logical line ends, newline
    excluded; `line_start` is where that line starts.
    """

    start: int
    end: int  # after its last line of code (its trailing comments are children too)
    comment: bool
    name: str | None = None
    is_class: bool = False
    line_start: int = -1
    header_end: int = -1


def statements(data: bytes, start: int, end: int, indent: bytes) -> list[Statement] | None:
    """The children at `indent` of the block occupying [start, end) of `data`, or None.

    `data` must end with a newline. Comment lines before the first statement are the
    module's children, but not a class body's (tree-sitter leaves them outside it).
    """
    pattern = _statement_pattern(indent)
    children: list[Statement] = []
    pos = start
    while pos < end:
        match = pattern.match(data, pos, end)
        if match is None:
            return _comments_only(data, pos, end, children)
        if not indent:
            _comment_rows(data, match.start("lead"), match.end("lead"), children, inner=-1)
        decorators, head = match.span("decorators"), match.span("head")
        trail = match.span("trail")
        first = decorators[0] if decorators[1] > decorators[0] else head[0]
        child = Statement(start=first, end=trail[0], comment=False)
        name = match["name"]
        if name is not None:
            child.name = name.decode("utf-8", "surrogatepass")
            if match["is_class"] is not None:
                child.is_class = True
                child.line_start = head[0]
                child.header_end = head[1] - 1
        children.append(child)
        if data.find(b"#", trail[0], trail[1]) != -1:
            body = BODY_INDENT.match(data, head[1], trail[0])
            inner = len(body[1]) if body is not None and len(body[1]) > len(indent) else -1
            child.end = _comment_rows(data, trail[0], trail[1], children, inner=inner)
        pos = match.end()
    return children


def _comments_only(
    data: bytes, start: int, end: int, children: list[Statement]
) -> list[Statement] | None:
    """What is left is blank and comment lines (the end of the block), else None."""
    pos = start
    for match in _COMMENT_LINE.finditer(data, pos, end):
        if match.start() != pos:
            return None
        pos = match.end()
    if pos != end:
        return None
    _comment_rows(data, start, end, children, inner=-1)
    return children


def _comment_rows(
    data: bytes, start: int, end: int, children: list[Statement], *, inner: int
) -> int:
    """Append the comment lines of [start, end) that belong to this block; return where
    the previous statement ends.

    As tree-sitter's indentation scanner places them: comments indented at least as far
    as the previous statement's body (`inner`, -1 when it has none) stay in that body,
    up to the first one indented less.
    """
    statement_end = start
    pos = start
    while pos < end:
        line_end = data.index(b"\n", pos) + 1
        line = data[pos:line_end]
        text = line.lstrip(b" \t\f\r")
        if text.startswith(b"#"):
            if inner >= 0 and len(line) - len(text) >= inner:
                statement_end = line_end
            else:
                inner = -1
                children.append(Statement(start=pos, end=line_end, comment=True))
        pos = line_end
    return statement_end


def bad_indentation(data: bytes) -> bool:
    """Whether a line's indentation holds a tab or form feed (tree-sitter reads those)."""
    if b"\t" not in data and b"\f" not in data:
        return False
    return _BAD_INDENT.search(data) is not None
