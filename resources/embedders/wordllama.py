"""The default embedder: WordLlama's static token embeddings, shipped inside its wheel.

Nothing is downloaded: the weights (`l2_supercat`, 256 dimensions) and the tokenizer
config are package data of `wordllama`, and downloads are disabled when loading them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from resources.embedders.base import empty_matrix, l2_normalize, require_texts

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from resources.embedders.base import Matrix

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "l2_supercat"
# The wheel ships `weights/l2_supercat_256.safetensors` only; smaller dimensions are
# Matryoshka truncations of it.
SHIPPED_DIMENSION = 256
# The Matryoshka sizes WordLlama was trained at and lets its weights be truncated to.
DIMENSIONS = (64, 128, 256)


@dataclass(frozen=True, slots=True)
class _Model:
    table: Matrix
    tokenizer: Tokenizer


class WordLlamaEmbedder:
    """Mean-pooled WordLlama token embeddings; offline, deterministic and fast on CPU.

    The model is loaded on first use (about half a second), never at import or
    construction, and then shared by all threads using this instance.
    """

    def __init__(self, *, config: str = DEFAULT_CONFIG, dimensions: int | None = None) -> None:
        """Describe the model; nothing is loaded yet.

        Args:
            config: A WordLlama config whose weights ship in the wheel (`l2_supercat`).
            dimensions: Truncate vectors to this many dimensions (64, 128 or 256).
        """
        if dimensions is not None and dimensions not in DIMENSIONS:
            raise ValueError(
                f"wordllama dimensions must be one of {', '.join(map(str, DIMENSIONS))}, "
                f"got {dimensions}"
            )
        self._config = config
        self._dimension = dimensions or SHIPPED_DIMENSION
        self._lock = threading.Lock()
        self._model: _Model | None = None

    @property
    def model_name(self) -> str:
        """`wordllama/<config>-<dimension>`, e.g. `wordllama/l2_supercat-256`."""
        return f"wordllama/{self._config}-{self._dimension}"

    @property
    def dimension(self) -> int:
        """Vector length (known without loading the model)."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Unit-length float32 vectors, one row per text, in order."""
        import numpy as np

        items = require_texts(texts)
        if not items:
            return empty_matrix(self._dimension)
        model = self._loaded()
        vectors = np.empty((len(items), self._dimension), dtype=np.float32)
        # Pooling text by text, rather than through WordLlama's padded batches, keeps
        # memory proportional to each text instead of batch size x longest text.
        for row, encoding in enumerate(
            model.tokenizer.encode_batch(items, add_special_tokens=False)
        ):
            ids = np.asarray(encoding.ids, dtype=np.intp)
            vectors[row] = model.table[ids].mean(axis=0)
        return l2_normalize(vectors)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts with WordLlama's own (Llama 2) tokenizer, as `embed` sees them."""
        items = require_texts(texts, allow_empty=True)
        if not items:
            return []
        tokenizer = self._loaded().tokenizer
        return [len(e.ids) for e in tokenizer.encode_batch(items, add_special_tokens=False)]

    def close(self) -> None:
        """Release the loaded model; the next use loads it again."""
        with self._lock:
            self._model = None

    def _loaded(self) -> _Model:
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                self._model = _load(self._config, self._dimension)
            return self._model


def _load(config: str, dimension: int) -> _Model:
    import numpy as np

    wordllama = _import_wordllama()
    if wordllama.__file__ is None:
        raise RuntimeError("wordllama is not installed as a regular package; its model is missing")
    package_dir = Path(wordllama.__file__).parent
    if config not in wordllama.WordLlama.list_configs()["wordllama"]:
        raise ValueError(f"unknown wordllama config {config!r}; the wheel ships {DEFAULT_CONFIG!r}")
    try:
        # wordllama 0.4.0.post1 looks for tokenizers under `tokenizer/` (singular) beside
        # itself, misses the shipped `tokenizers/` folder and would download; pointing the
        # cache at the package folder finds both files, and disable_download makes a
        # missing file an error instead of a network call.
        inference = wordllama.WordLlama.load(
            config=config,
            cache_dir=package_dir,
            dim=SHIPPED_DIMENSION,
            trunc_dim=dimension if dimension != SHIPPED_DIMENSION else None,
            disable_download=True,
        )
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"wordllama config {config!r} at {SHIPPED_DIMENSION} dimensions is not shipped in "
            f"{package_dir} and downloads are disabled: {exc}"
        ) from exc
    tokenizer = inference.tokenizer
    # WordLlamaInference switched padding on; per-text pooling needs the bare ids.
    tokenizer.no_padding()
    table = np.ascontiguousarray(inference.embedding, dtype=np.float32)
    logger.info("Loaded wordllama %s (%d dimensions) from %s", config, dimension, package_dir)
    return _Model(table=table, tokenizer=tokenizer)


def _import_wordllama() -> ModuleType:
    """Import wordllama without letting it configure the host's logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import wordllama

    # wordllama calls logging.basicConfig(level=INFO) on import, which in a process with
    # no handlers yet (a Dagster run worker, the API) would start printing every
    # library's INFO records to stderr.
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return wordllama
