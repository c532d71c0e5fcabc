"""Source options: how the pipeline treats a source's files, within bounds, with defaults.

A source's `config` says what to sync (seed 000); its `options` say how (seed 002's options
schema): the largest file fetched and the chunk budget and overlap. Each option is a
deployment setting (`HEADWATER_MAX_FILE_BYTES`, `HEADWATER_CHUNK_MAX_TOKENS`,
`HEADWATER_CHUNK_OVERLAP_TOKENS`) that a connection may set for the sources that use it, and
a source for itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self

from resources.settings import (
    CHUNK_MAX_TOKENS_RANGE,
    CHUNK_OVERLAP_TOKENS_RANGE,
    MAX_FILE_BYTES_RANGE,
)

MAX_FILE_BYTES = "maxFileBytes"
CHUNK_MAX_TOKENS = "chunkMaxTokens"
CHUNK_OVERLAP_TOKENS = "chunkOverlapTokens"
# Option name -> attribute of `PipelineOptions` (and of the deployment settings).
FIELDS: Mapping[str, str] = {
    MAX_FILE_BYTES: "max_file_bytes",
    CHUNK_MAX_TOKENS: "chunk_max_tokens",
    CHUNK_OVERLAP_TOKENS: "chunk_overlap_tokens",
}


def _integer(bounds: tuple[int, int], description: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": bounds[0],
        "maximum": bounds[1],
        "description": description,
    }


def pipeline_options_schema() -> dict[str, Any]:
    """JSON Schema of the options every source takes (no defaults: those are the deployment's)."""
    return {
        "title": "Source options",
        "type": "object",
        "properties": {
            MAX_FILE_BYTES: _integer(
                MAX_FILE_BYTES_RANGE,
                "Files larger than this many bytes are not fetched; they count as skipped "
                "(`too_large`).",
            ),
            CHUNK_MAX_TOKENS: _integer(CHUNK_MAX_TOKENS_RANGE, "Token budget of one chunk."),
            CHUNK_OVERLAP_TOKENS: _integer(
                CHUNK_OVERLAP_TOKENS_RANGE,
                "Tokens repeated between consecutive pieces of a unit too large for one chunk; "
                "smaller than chunkMaxTokens.",
            ),
        },
        "additionalProperties": False,
    }


class OptionSettings(Protocol):
    """Settings that hold the deployment's options (`Settings`, the pipeline's resource)."""

    @property
    def max_file_bytes(self) -> int: ...

    @property
    def chunk_max_tokens(self) -> int: ...

    @property
    def chunk_overlap_tokens(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineOptions:
    """The options in force for a source: the deployment's, then its connection's, then its own.

    Attributes:
        max_file_bytes: Larger files are skipped.
        chunk_max_tokens: Token budget of one chunk.
        chunk_overlap_tokens: Overlap of forced splits, below `chunk_max_tokens`.
    """

    max_file_bytes: int
    chunk_max_tokens: int
    chunk_overlap_tokens: int

    @classmethod
    def from_settings(cls, settings: OptionSettings) -> Self:
        """The deployment's options, which sources that set none take."""
        return cls(**{name: getattr(settings, name) for name in FIELDS.values()})

    def overridden(self, options: Mapping[str, Any]) -> Self:
        """These options with the given (validated, camelCase) ones in their place."""
        return dataclasses.replace(self, **{FIELDS[name]: value for name, value in options.items()})

    def shown(self) -> dict[str, Any]:
        """The options by their camelCase names, as answers show them."""
        return {name: getattr(self, attribute) for name, attribute in FIELDS.items()}

    def problem(self) -> tuple[str, str] | None:
        """`(option, message)` when the options contradict each other, else None."""
        if self.chunk_overlap_tokens >= self.chunk_max_tokens:
            return CHUNK_OVERLAP_TOKENS, (
                f"{self.chunk_overlap_tokens} must be smaller than {CHUNK_MAX_TOKENS} "
                f"({self.chunk_max_tokens})"
            )
        return None
