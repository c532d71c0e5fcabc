"""Type stub of the C extension `_assembly.c` (chunk assembly for `chunking`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from connector_assets._python_scan import Statement

class _Unit(Protocol):
    """A byte range that chunks never cut inside unless it alone exceeds the budget."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def symbol(self) -> str | None: ...

_U = TypeVar("_U", bound=_Unit)

class Assembler:
    """The chunks of one document (`data`), assembled from its units.

    Budgets are in bytes; a chunk's token count is ceil(bytes / `bytes_per_token`), its
    context included. `chunk_type` is the tuple subclass chunks are made of (text,
    start_line, end_line, token_count, kind, symbol); windows are of `window_kind`.
    """

    def __init__(
        self,
        data: bytes,
        budget: int,
        overlap: int,
        bytes_per_token: int,
        chunk_type: type[tuple[Any, ...]],
        window_kind: str,
    ) -> None: ...
    @property
    def chunks(self) -> list[Any]:
        """The chunks so far, in document order."""
    def emit(self, start: int, end: int, kind: str, symbol: str | None, context: bytes, /) -> None:
        """One chunk of [start, end) trimmed of whitespace, after `context`."""
    def windows(
        self,
        start: int,
        end: int,
        symbol: str | None,
        first: bytes,
        rest: bytes,
        sentences: list[int] | None,
        /,
    ) -> None:
        """Overlapping windows over a unit, cut at sentence ends (when given), else lines;
        the first window after `first`, the others after `rest`."""
    def pack_and_emit(
        self,
        units: Sequence[_U],
        kind: str,
        split: Callable[[_U, bytes, bytes], None],
        first: bytes,
        rest: bytes,
        /,
    ) -> None:
        """Packed groups of `units` as chunks; a unit alone over the budget goes to
        `split(unit, context of its first chunk, context of the others)`."""
    def python(self, statements: list[Statement], kind: str, /) -> None:
        """The chunks of scanned Python source: units, packing, classes split at their
        members with their header repeated, windows."""
