"""Type stub of the C extension `_python_scan.c` (see `python_definitions`)."""

from __future__ import annotations

class Statement(tuple[int, int, bool, str | None, list[Statement] | None, int, int]):
    """One child of a block: where its first line starts and what it defines.

    A class whose body is a block of its own lines has `members`, the children of that
    block; `line_start` is where its `class` line starts and `header_end` where the
    body's first line of code starts (the body's leading comments lie between).
    """

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int:
        """After its last line (a trailing comment that belongs to it included)."""
    @property
    def comment(self) -> bool: ...
    @property
    def name(self) -> str | None: ...
    @property
    def members(self) -> list[Statement] | None: ...
    @property
    def line_start(self) -> int: ...
    @property
    def header_end(self) -> int: ...

def statements(data: bytes, start: int, end: int, /) -> list[Statement] | None:
    """The top-level statements of the module occupying [start, end) of `data`, or None."""
