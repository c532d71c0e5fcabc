"""The embedder protocol every backend implements, its error, and shared helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # numpy is imported where used: loading the embedders costs none
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of a fixed dimension.

    `model_name` and `dimension` are recorded with every vector, so two embedders with
    the same pair must produce interchangeable vectors.
    """

    @property
    def model_name(self) -> str:
        """Stable name of the model, e.g. `wordllama/l2_supercat-256`."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""
        ...

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed texts.

        Args:
            texts: Non-empty strings; an empty string raises `ValueError`.

        Returns:
            A float32 array of shape `(len(texts), dimension)` with unit-length rows, in
            the order of `texts`.
        """
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts per text, with the model's own tokenizer where it has one."""
        ...


class EmbeddingError(Exception):
    """An embedding backend failed; for HTTP backends it carries what the provider said.

    Attributes:
        status: HTTP status of the last response, or None when no response came
            (connection refused, timeout) or the backend is not HTTP.
        provider_message: The provider's own error message, when it sent one.
        provider_type: The provider's error type (OpenAI's `error.type`), when sent.
        provider_code: The provider's error code (OpenAI's `error.code`), when sent.
        attempts: How many requests were made before giving up.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider_message: str | None = None,
        provider_type: str | None = None,
        provider_code: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.provider_message = provider_message
        self.provider_type = provider_type
        self.provider_code = provider_code
        self.attempts = attempts


def require_texts(texts: Sequence[str], *, allow_empty: bool = False) -> list[str]:
    """The texts as a list, after checking each is a string (and non-empty unless allowed).

    Raises:
        TypeError: If `texts` is a bare string or holds a non-string.
        ValueError: If a text is empty and `allow_empty` is false (no backend can give an
            empty text a unit vector).
    """
    if isinstance(texts, str):
        # A bare string is a Sequence[str] too; embedding it letter by letter is never meant.
        raise TypeError("texts must be a sequence of strings, not a single string")
    items = list(texts)
    for position, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{position}] is {type(text).__name__}, not str")
        if not text and not allow_empty:
            raise ValueError(f"texts[{position}] is empty; empty texts cannot be embedded")
    return items


def l2_normalize(matrix: npt.ArrayLike) -> Matrix:
    """Rows scaled to unit length as float32; an all-zero row stays zero instead of NaN."""
    import numpy as np

    array = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    np.maximum(norms, np.finfo(np.float32).tiny, out=norms)
    return np.ascontiguousarray(array / norms, dtype=np.float32)


def empty_matrix(dimension: int) -> Matrix:
    """The result of embedding no texts."""
    import numpy as np

    return np.zeros((0, dimension), dtype=np.float32)
