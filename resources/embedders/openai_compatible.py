"""OpenAI-compatible `/embeddings` endpoints: OpenAI itself, Ollama, vLLM, TEI.

`base_url` follows the OpenAI SDK convention and includes the version prefix
(`https://api.openai.com/v1`, `http://localhost:11434/v1`); requests go to
`{base_url}/embeddings`.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from resources.embedders.base import EmbeddingError, empty_matrix, l2_normalize, require_texts
from resources.retry_after import parse_retry_after

if TYPE_CHECKING:
    from resources.embedders.base import Matrix

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "text-embedding-3-small"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# OpenAI accepts at most 2,048 inputs and 300k tokens per request; at roughly four
# characters per token this stays well inside the token limit.
DEFAULT_MAX_REQUEST_CHARS = 400_000
# No tokenizer endpoint exists in the OpenAI API, so token counts are estimated.
CHARS_PER_TOKEN = 4
DIMENSION_PROBE = "dimension probe"
_PROVIDER_TEXT_LIMIT = 500


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before repeating a failed request.

    Attributes:
        max_attempts: Requests made in all, the first one included.
        backoff_base: First backoff in seconds, doubled after each failure.
        max_wait: Cap on any single wait, `Retry-After` included.
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    max_wait: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.max_wait < 0:
            raise ValueError("backoff_base and max_wait must not be negative")

    def backoff(self, failures: int) -> float:
        """Exponential backoff with jitter after `failures` consecutive failures."""
        ceiling = min(self.max_wait, self.backoff_base * 2 ** (failures - 1))
        # Half fixed, half random: clients that failed together spread out, yet each
        # still waits longer after every failure.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class _ProviderError:
    message: str | None
    type: str | None
    code: str | None


def _provider_error(response: httpx.Response) -> _ProviderError:
    """What the provider said: OpenAI's `{"error": {...}}`, Ollama/TEI's `{"error": "..."}`."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return _ProviderError(text[:_PROVIDER_TEXT_LIMIT] or None, None, None)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return _ProviderError(
            _str_or_none(error.get("message")),
            _str_or_none(error.get("type")),
            None if code is None else str(code),
        )
    if isinstance(error, str):
        return _ProviderError(error, _str_or_none(body.get("error_type")), None)
    return _ProviderError(response.text.strip()[:_PROVIDER_TEXT_LIMIT] or None, None, None)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class OpenAICompatibleEmbedder:
    """Embeds through an OpenAI-compatible HTTP API, with batching and retries.

    One `httpx.Client` per instance, safe to share between threads; call `close()` (or
    use it as a context manager) when done. The API key goes into the Authorization
    header only and is never logged or put into errors.
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 64,
        max_request_chars: int = DEFAULT_MAX_REQUEST_CHARS,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Configure the client; no request is made yet.

        Args:
            model: Model id sent as `model` (e.g. `text-embedding-3-small`, `nomic-embed-text`).
            base_url: API root including the version prefix, e.g. `http://localhost:11434/v1`.
            api_key: Bearer token; None for servers without auth (Ollama, TEI, vLLM).
            dimensions: Requested vector length, sent as `dimensions`; when None the length
                is learnt from the first response.
            batch_size: Most texts per request.
            max_request_chars: Most characters per request; a longer single text still
                goes alone, and the provider decides whether it fits.
            timeout: httpx timeout for each request.
            retry: Retry policy for 429, 5xx and connection failures.
        """
        if not model:
            raise ValueError("model must not be empty")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if dimensions is not None and dimensions < 1:
            raise ValueError(f"dimensions must be positive, got {dimensions}")
        if batch_size < 1 or max_request_chars < 1:
            raise ValueError("batch_size and max_request_chars must be positive")
        self._model = model
        self._dimensions = dimensions
        self._dimension: int | None = dimensions
        self._batch_size = batch_size
        self._max_request_chars = max_request_chars
        self._retry = retry or RetryPolicy()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/", timeout=timeout, headers=headers
        )
        self._url = str(self._client.base_url.join("embeddings"))

    @property
    def model_name(self) -> str:
        """`openai/<model>`, e.g. `openai/text-embedding-3-small`."""
        return f"openai/{self._model}"

    @property
    def dimension(self) -> int:
        """Vector length; when neither configured nor seen yet, one probe request learns it."""
        if self._dimension is None:
            self.embed([DIMENSION_PROBE])
        assert self._dimension is not None
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Unit-length float32 vectors, one row per text, in order.

        Raises:
            EmbeddingError: When the provider refuses, keeps failing past the retry
                policy, or answers with something that is not a valid embeddings response.
        """
        items = require_texts(texts)
        if not items:
            # No request for nothing: until a response is seen the width is unknown (0).
            return empty_matrix(self._dimension or 0)
        parts = [self._request(batch) for batch in self._batches(items)]
        import numpy as np

        return l2_normalize(np.concatenate(parts, axis=0))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Estimated token counts (about four characters a token): the API has no tokenizer."""
        items = require_texts(texts, allow_empty=True)
        return [math.ceil(len(text) / CHARS_PER_TOKEN) for text in items]

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _batches(self, items: list[str]) -> Iterator[list[str]]:
        batch: list[str] = []
        chars = 0
        for text in items:
            full = len(batch) >= self._batch_size or chars + len(text) > self._max_request_chars
            if batch and full:
                yield batch
                batch, chars = [], 0
            batch.append(text)
            chars += len(text)
        if batch:
            yield batch

    def _request(self, batch: list[str]) -> Matrix:
        body: dict[str, Any] = {"model": self._model, "input": batch}
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        response = self._post(body)
        return self._vectors(response, expected=len(batch))

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        """POST with retries; returns a 2xx response or raises EmbeddingError."""
        policy = self._retry
        for attempt in range(1, policy.max_attempts + 1):
            last = attempt == policy.max_attempts
            try:
                response = self._client.post("embeddings", json=body)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if last:
                    raise EmbeddingError(
                        f"embedding request to {self._url} failed after {attempt} attempts: "
                        f"{type(exc).__name__}: {exc}",
                        attempts=attempt,
                    ) from exc
                wait = policy.backoff(attempt)
                logger.warning(
                    "Embedding request to %s failed (%s); attempt %d of %d, retrying in %.2fs",
                    self._url,
                    type(exc).__name__,
                    attempt,
                    policy.max_attempts,
                    wait,
                )
                time.sleep(wait)
                continue
            if response.is_success:
                return response
            retryable = response.status_code == 429 or response.status_code >= 500
            if not retryable or last:
                raise self._error(response, attempts=attempt)
            retry_after = parse_retry_after(response.headers)
            wait = policy.backoff(attempt) if retry_after is None else retry_after
            wait = min(wait, policy.max_wait)
            logger.warning(
                "Embedding request to %s got HTTP %d; attempt %d of %d, retrying in %.2fs",
                self._url,
                response.status_code,
                attempt,
                policy.max_attempts,
                wait,
            )
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _error(self, response: httpx.Response, *, attempts: int) -> EmbeddingError:
        said = _provider_error(response)
        detail = f": {said.message}" if said.message else ""
        return EmbeddingError(
            f"embedding request to {self._url} failed with HTTP {response.status_code}"
            f" after {attempts} attempt{'s' if attempts > 1 else ''}{detail}",
            status=response.status_code,
            provider_message=said.message,
            provider_type=said.type,
            provider_code=said.code,
            attempts=attempts,
        )

    def _vectors(self, response: httpx.Response, *, expected: int) -> Matrix:
        """The response's vectors ordered by `index`, after checking their shape."""
        import numpy as np

        try:
            payload = response.json()
            data = payload["data"]
            by_index = {int(item["index"]): item["embedding"] for item in data}
        except (ValueError, KeyError, TypeError) as exc:
            raise self._invalid(response, f"not an embeddings response ({exc!r})") from exc
        if sorted(by_index) != list(range(expected)) or len(data) != expected:
            raise self._invalid(
                response, f"expected indexes 0..{expected - 1}, got {sorted(by_index)}"
            )
        try:
            matrix = np.asarray([by_index[i] for i in range(expected)], dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise self._invalid(response, f"embeddings are not lists of numbers ({exc})") from exc
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            raise self._invalid(response, "embeddings are not equal-length lists of numbers")
        if self._dimension is None:
            self._dimension = int(matrix.shape[1])
            logger.info("%s returns %d-dimensional vectors", self.model_name, self._dimension)
        elif matrix.shape[1] != self._dimension:
            raise self._invalid(
                response,
                f"got {matrix.shape[1]}-dimensional vectors, expected {self._dimension}",
            )
        logger.debug(
            "Embedded %d texts with %s (usage %s)", expected, self.model_name, payload.get("usage")
        )
        return matrix

    def _invalid(self, response: httpx.Response, problem: str) -> EmbeddingError:
        return EmbeddingError(
            f"invalid embeddings response from {self._url}: {problem}",
            status=response.status_code,
        )
