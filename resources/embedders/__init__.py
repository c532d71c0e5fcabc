"""Embedders: texts -> L2-normalized float32 vectors, with the model name and dimension.

`wordllama` is the offline default; `sentence-transformers` is an optional extra;
`openai` speaks the OpenAI-compatible `/embeddings` API (OpenAI, Ollama, vLLM, TEI).
"""

from resources.embedders.base import Embedder, EmbeddingError
from resources.embedders.openai_compatible import OpenAICompatibleEmbedder, RetryPolicy
from resources.embedders.resource import EmbedderKind, EmbedderResource
from resources.embedders.sentence_transformers import SentenceTransformerEmbedder
from resources.embedders.wordllama import WordLlamaEmbedder

__all__ = [
    "Embedder",
    "EmbedderKind",
    "EmbedderResource",
    "EmbeddingError",
    "OpenAICompatibleEmbedder",
    "RetryPolicy",
    "SentenceTransformerEmbedder",
    "WordLlamaEmbedder",
]
