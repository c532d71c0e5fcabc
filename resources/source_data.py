"""A source's data in the lake, as a whole."""

from __future__ import annotations

from resources.lake import Lake

LAKE_ASSETS = ("raw_files", "documents", "chunks", "embeddings")


def drop_source_data(lake: Lake, source_id: str) -> None:
    """Delete every version of every table of the source."""
    for asset in LAKE_ASSETS:
        lake.drop(asset, source_id)
