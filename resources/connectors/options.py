"""Source options: how the pipeline treats a source's files, within bounds, with defaults.

A source's `config` says what to sync (seed 000); its `options` say how and when (seed 002's
options schema): the largest file fetched, the chunk budget and overlap, and how often it syncs
by itself. Each option is a deployment setting (`HEADWATER_MAX_FILE_BYTES`,
`HEADWATER_CHUNK_MAX_TOKENS`, `HEADWATER_CHUNK_OVERLAP_TOKENS`,
`HEADWATER_SYNC_INTERVAL_MINUTES`) that a connection may set for the sources that use it, and
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
    SYNC_INTERVAL_MINUTES_RANGE,
)

MAX_FILE_BYTES = "maxFileBytes"
CHUNK_MAX_TOKENS = "chunkMaxTokens"
CHUNK_OVERLAP_TOKENS = "chunkOverlapTokens"
SYNC_INTERVAL_MINUTES = "syncIntervalMinutes"
# Option name -> attribute of `PipelineOptions` (and of the deployment settings).
FIELDS: Mapping[str, str] = {
    MAX_FILE_BYTES: "max_file_bytes",
    CHUNK_MAX_TOKENS: "chunk_max_tokens",
    CHUNK_OVERLAP_TOKENS: "chunk_overlap_tokens",
    SYNC_INTERVAL_MINUTES: "sync_interval_minutes",
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
            SYNC_INTERVAL_MINUTES: _integer(
                SYNC_INTERVAL_MINUTES_RANGE,
                "Minutes between scheduled incremental syncs, counted from the source's last "
                "sync request of any kind (API, webhook, schedule); 0: none.",
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

    @property
    def sync_interval_minutes(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineOptions:
    """The options in force for a source: the deployment's, then its connection's, then its own.

    Attributes:
        max_file_bytes: Larger files are skipped.
        chunk_max_tokens: Token budget of one chunk.
        chunk_overlap_tokens: Overlap of forced splits, below `chunk_max_tokens`.
        sync_interval_minutes: Minutes between scheduled syncs; 0 for none.
    """

    max_file_bytes: int
    chunk_max_tokens: int
    chunk_overlap_tokens: int
    sync_interval_minutes: int

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
