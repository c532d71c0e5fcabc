"""Statement boundaries of Python source found by one regular-expression pass.

`statements` lists the children a clean tree-sitter parse gives the module, and each
class's `members` those of its body, as line-aligned rows: each statement's first line
(decorators included) and each comment line that belongs to that block, with the name
a `def` or `class` introduces. String literals (every prefix, single and triple quotes;
f-strings as 3.11 writes them), comments, bracketed spans across lines and backslash
continuations are skipped inside the compiled patterns, so Python code runs once per
statement, not per token or line. Comments go where tree-sitter's indentation scanner
puts them (`_comment_rows`); a class body's leading comments are not its members.

It returns None when the text does not scan cleanly (an unterminated string, unbalanced
or too deeply nested brackets, a stray backslash or closing bracket): the caller then
parses with tree-sitter, as it does when `bad_indentation` finds a tab or form feed.
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


_IDENTIFIER = rb"[A-Za-z_\x80-\xff][\w\x80-\xff]*+"


def _start(indent: bytes) -> bytes:
    """Blank and comment lines, then decorators, then `indent`."""
    ind = re.escape(indent)
    return (
        rb"(?:" + _BLANK_OR_COMMENT + rb")*+"
        rb"(?P<decorators>(?:"
        + ind
        + rb"@"
        + _REST
        + rb"(?:"
        + _BLANK_OR_COMMENT
        + rb")*+)*+)"
        + ind
    )


def _body(group: bytes) -> bytes:
    """The indentation of the next line of code, in `group`, matching nothing."""
    return rb"(?:(?=(?:" + _BLANK_OR_COMMENT + rb")*+(?P<" + group + rb">[ \t]*+)[^\s#])|)"


@cache
def _pattern(indent: bytes) -> re.Pattern[bytes]:
    """The next statement at exactly `indent`, one match per statement.

    A class (`class`, its name in `class_name`) stops at the end of its header line: its
    body is a block of its own. Any other statement (`head`, `name` when it is a `def`)
    takes its deeper lines and else/except clauses, then `trail`, the blank and comment
    lines after its last line of code. `class_body`/`body` is the indentation of the
    line of code after the header.
    """
    ind = re.escape(indent)
    # Lines of the statement after its first: deeper ones, and its else/except clauses.
    more_code = ind + rb"(?:[ \t]" + _REST + rb"|" + _CLAUSE + _REST + rb")"
    return re.compile(
        _start(indent)
        + rb"(?:(?P<cls>class[ \t]++(?P<class_name>"
        + _IDENTIFIER
        + rb")"
        + _REST
        + rb")"
        + _body(b"class_body")
        + rb"|(?P<head>(?!"
        + _CLAUSE
        + rb")(?=[^\s#])(?:(?:async[ \t]++)?def[ \t]++(?P<name>"
        + _IDENTIFIER
        + rb"))?"
        + _REST
        + rb")"
        + _body(b"body")
        + rb"(?:(?:"
        + _BLANK_OR_COMMENT
        + rb")*+"
        + more_code
        + rb")*+(?P<trail>(?:"
        + _BLANK_OR_COMMENT
        + rb")*+))",
        re.DOTALL,
    )


# Group numbers are the same at every indentation.
(_DECORATORS, _CLASS, _CLASS_NAME, _CLASS_BODY, _HEAD, _DEF_NAME, _BODY, _TRAIL) = (
    _pattern(b"").groupindex[group]
    for group in ("decorators", "cls", "class_name", "class_body", "head", "name", "body", "trail")
)
_COMMENT_LINE = re.compile(rb"[ \t\f\r]*+#[^\n]*+\n|[ \t\f\r]*+\n")
# A line of code (not blank, not a comment) indented with a tab or form feed.
_BAD_INDENT = re.compile(rb"^[ ]*+[\t\f][ \t\f]*+[^\s#]", re.MULTILINE)


_BLANK_OR_COMMENT_LINES = re.compile(rb"(?:" + _BLANK_OR_COMMENT + rb")*+")


@dataclass(slots=True)
class Statement:
    """One child of a block: where its first line starts and what it defines.

    A class whose body is a block of its own lines has `members`, the children of that
    block; `line_start` is where its `class` line starts and `header_end` where the
    body's first line of code starts (the body's leading comments lie between).
    """

    start: int
    end: int  # after its last line (a trailing comment that belongs to it included)
    comment: bool
    name: str | None = None
    members: list[Statement] | None = None
    line_start: int = -1
    header_end: int = -1


def statements(data: bytes, start: int, end: int) -> list[Statement] | None:
    """The top-level statements of the module occupying [start, end) of `data`, or None.

    `data` must end with a newline.
    """
    found = _block(data, start, end, b"")
    if found is None:
        return None
    children, stop = found
    return children if stop == end else _comments_only(data, stop, end, children)


def _block(data: bytes, pos: int, end: int, indent: bytes) -> tuple[list[Statement], int] | None:
    """The children at `indent` of the block starting at `pos`, and where the lines
    after it start; None when a class body in it does not scan.

    Comment lines before the first statement are the module's children, but not a
    class body's (tree-sitter leaves them outside it).
    """
    pattern = _pattern(indent)
    children: list[Statement] = []
    trail = (pos, pos)
    inner = -1
    child: Statement | None = None
    while pos < end:
        match = pattern.match(data, pos, end)
        if match is None:
            break
        # One tuple of every group's span: cheaper than a method call per group.
        spans = match.regs
        if child is not None and data.find(b"#", trail[0], trail[1]) != -1:
            child.end, _ = _comment_rows(data, trail, children, inner=inner, floor=-1)
        # The decorators' span is empty when there are none: it starts the statement's lines.
        first, line_start = spans[_DECORATORS]
        if not indent and data.find(b"#", pos, first) != -1:
            _comment_rows(data, (pos, first), children, inner=-1, floor=-1)
        head_end = spans[_CLASS][1]
        is_class = head_end != -1
        name_span, body_span = spans[_CLASS_NAME], spans[_CLASS_BODY]
        if not is_class:
            head_end = spans[_HEAD][1]
            name_span, body_span = spans[_DEF_NAME], spans[_BODY]
        child = Statement(first, head_end, False)
        children.append(child)
        if name_span[0] != -1:
            child.name = data[name_span[0] : name_span[1]].decode("utf-8", "surrogatepass")
        deeper = body_span[1] - body_span[0] > len(indent)
        if is_class:
            inner = -1
            pos = head_end
            if deeper:
                found = _block(data, head_end, end, data[body_span[0] : body_span[1]])
                if found is None:
                    return None
                child.members, pos = found
                if child.members:
                    child.end = child.members[-1].end
                child.line_start, child.header_end = line_start, body_span[0]
            blank = _BLANK_OR_COMMENT_LINES.match(data, pos, end)
            trail = (pos, blank.end() if blank is not None else pos)
        else:
            trail = spans[_TRAIL]
            child.end = trail[0]
            inner = body_span[1] - body_span[0] if deeper else -1
        pos = trail[1]
    if child is None:
        return children, pos
    stop = trail[1]
    if data.find(b"#", trail[0], trail[1]) != -1:
        child.end, stop = _comment_rows(data, trail, children, inner=inner, floor=len(indent))
    return children, stop


def _comments_only(
    data: bytes, start: int, end: int, children: list[Statement]
) -> list[Statement] | None:
    """What is left is blank and comment lines (the end of the module), else None."""
    pos = start
    for match in _COMMENT_LINE.finditer(data, pos, end):
        if match.start() != pos:
            return None
        pos = match.end()
    if pos != end:
        return None
    _comment_rows(data, (start, end), children, inner=-1, floor=-1)
    return children


def _comment_rows(
    data: bytes, span: tuple[int, int], children: list[Statement], *, inner: int, floor: int
) -> tuple[int, int]:
    """Place the comment lines of `span`, after a statement, as tree-sitter's scanner does.

    Comments indented at least `inner` (the statement's body, -1 when it has none) stay
    in it, up to the first one indented less; the others are children of this block,
    up to the first indented less than `floor` (-1 unless the block ends here), where
    the lines left to the enclosing block start. Returns where the statement ends and
    where those lines start.
    """
    start, end = span
    statement_end = start
    pos = start
    while pos < end:
        line_end = data.index(b"\n", pos) + 1
        line = data[pos:line_end]
        text = line.lstrip(b" \t\f\r")
        if text.startswith(b"#"):
            column = len(line) - len(text)
            if inner >= 0 and column >= inner:
                statement_end = line_end
            elif column < floor:
                return statement_end, pos
            else:
                inner = -1
                children.append(Statement(start=pos, end=line_end, comment=True))
        pos = line_end
    return statement_end, end


def bad_indentation(data: bytes) -> bool:
    """Whether a line's indentation holds a tab or form feed (tree-sitter reads those)."""
    if b"\t" not in data and b"\f" not in data:
        return False
    return _BAD_INDENT.search(data) is not None
