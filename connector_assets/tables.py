"""Arrow schemas of the four lake tables (one row per file, document, chunk, vector)."""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

RAW_FILES = pa.schema(
    [
        ("file_id", pa.string()),
        ("path", pa.string()),
        ("version", pa.string()),
        ("size", pa.int64()),
        ("modified_at", TIMESTAMP),
        ("content_hash", pa.string()),
        ("content", pa.large_binary()),
        ("skip_reason", pa.string()),
        ("fetched_at", TIMESTAMP),
    ]
)

DOCUMENTS = pa.schema(
    [
        ("file_id", pa.string()),
        ("path", pa.string()),
        ("content_hash", pa.string()),
        ("size", pa.int64()),
        ("modified_at", TIMESTAMP),
        ("language", pa.string()),
        ("title", pa.string()),
        ("mime_type", pa.string()),
        ("encoding", pa.string()),
        ("text", pa.large_string()),
        ("skip_reason", pa.string()),
        ("skip_detail", pa.string()),
        ("indexed_at", TIMESTAMP),
    ]
)

# The indexed documents' listing, sorted by (path, file_id): what `GET /sources/:id/files`
# pages through, kept with each documents version as its `listing` attachment.
FILE_LISTING = pa.schema(
    [
        ("file_id", pa.string()),
        ("path", pa.string()),
        ("language", pa.string()),
        ("size", pa.int64()),
        ("modified_at", TIMESTAMP),
        ("indexed_at", TIMESTAMP),
    ]
)

CHUNKS = pa.schema(
    [
        ("chunk_id", pa.string()),
        ("file_id", pa.string()),
        ("path", pa.string()),
        ("content_hash", pa.string()),
        ("ordinal", pa.int32()),
        ("text", pa.large_string()),
        ("text_hash", pa.string()),
        ("token_count", pa.int32()),
        ("start_line", pa.int32()),
        ("end_line", pa.int32()),
        ("kind", pa.string()),
        ("symbol", pa.string()),
        ("language", pa.string()),
    ]
)

# Vectors keep the model and dimension that made them; dimensions differ between models.
EMBEDDINGS = pa.schema(
    [
        ("chunk_id", pa.string()),
        ("file_id", pa.string()),
        ("text_hash", pa.string()),
        ("model", pa.string()),
        ("dimension", pa.int32()),
        ("vector", pa.list_(pa.float32())),
        ("embedded_at", TIMESTAMP),
    ]
)
