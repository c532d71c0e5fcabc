"""Content-addressed ids: stable across reruns, distinct across sources."""

from __future__ import annotations

import hashlib


def content_hash(data: bytes) -> str:
    """SHA-256 of raw bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def text_hash(text: str) -> str:
    """SHA-256 of text (UTF-8), hex: the key under which a vector is reused."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def file_id(source_id: str, path: str) -> str:
    """The id of a file within a source."""
    return hashlib.sha256(f"{source_id}\0{path}".encode()).hexdigest()[:32]


def chunk_id(*, source_id: str, path: str, chunk_text_hash: str, occurrence: int) -> str:
    """The id of a chunk: unchanged text at the same path keeps its id whatever else changes.

    `occurrence` tells apart identical chunks within one file (the n-th copy of that text).
    """
    key = f"{source_id}\0{path}\0{chunk_text_hash}\0{occurrence}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]
