"""Statement boundaries of Python source found by one pass over its bytes.

`statements` (the C extension `_python_scan`) lists the children a clean tree-sitter
parse gives the module, and each class's `members` those of its body, as line-aligned
rows (`Statement`, a struct sequence: a tuple with named fields): each statement's first
line (decorators included) and each comment line that belongs to that block, with the
name a `def` or `class` introduces. Per block it reads, for each statement: the blank
and comment lines before it, its decorators, its first logical line, and, unless it is a
class, every deeper line and `else`/`elif`/`except`/`finally` clause at its indentation,
then the blank and comment lines that trail it. A class stops at its header line and its
body is scanned right away as a block of its own (at the body's indentation). Inside a
logical line, string literals (every prefix, single and triple quotes; f-strings as 3.11
writes them), comments, bracketed spans across lines (13 levels, any closer closing any
opener) and backslash continuations are skipped. Comments go where tree-sitter's
indentation scanner puts them; a class body's leading comments are not its members.

It returns None when the text does not scan cleanly (an unterminated string, unbalanced
or too deeply nested brackets, a stray backslash or closing bracket): the caller then
parses with tree-sitter, as it does when `bad_indentation` finds a tab or form feed.
`data` must end with a newline.
"""

from __future__ import annotations

import re

from connector_assets._python_scan import Statement, statements

__all__ = ["Statement", "bad_indentation", "statements"]

# A line of code (not blank, not a comment) indented with a tab or form feed.
_BAD_INDENT = re.compile(rb"^[ ]*+[\t\f][ \t\f]*+[^\s#]", re.MULTILINE)


def bad_indentation(data: bytes) -> bool:
    """Whether a line's indentation holds a tab or form feed (tree-sitter reads those)."""
    if b"\t" not in data and b"\f" not in data:
        return False
    return _BAD_INDENT.search(data) is not None
