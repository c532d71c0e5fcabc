"""The OpenAI-compatible embedder against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import time

import dagster as dg
import numpy as np
import pytest

from resources.embedders import (
    EmbedderResource,
    EmbeddingError,
    OpenAICompatibleEmbedder,
    RetryPolicy,
)
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    openai_error,
    openai_server_fixture,  # noqa: F401  (provides the `openai_server` fixture)
)

pytestmark = pytest.mark.slow

MODEL = "test-embed"
# Tiny waits keep the retry tests fast; Retry-After still overrides the backoff.
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, max_wait=5.0)


def _embedder(server: FakeOpenAIServer, **kwargs: object) -> OpenAICompatibleEmbedder:
    options: dict[str, object] = {"model": MODEL, "base_url": server.url, "retry": FAST_RETRY}
    options.update(kwargs)
    return OpenAICompatibleEmbedder(**options)  # type: ignore[arg-type]


def _expected(texts: list[str], dimension: int) -> np.ndarray:
    raw = np.array([FakeOpenAIServer.vector_for(t, dimension) for t in texts], dtype=np.float32)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def test_vectors_come_back_in_input_order_and_unit_length(openai_server: FakeOpenAIServer) -> None:
    texts = ["alpha", "beta", "gamma", "delta"]
    with _embedder(openai_server) as embedder:
        vectors = embedder.embed(texts)

    assert vectors.dtype == np.float32
    assert vectors.shape == (4, openai_server.dimension)
    # The server answers `data` reversed; rows must still follow the input.
    np.testing.assert_allclose(vectors, _expected(texts, openai_server.dimension), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    (request,) = openai_server.requests
    assert request.body == {"model": MODEL, "input": texts}


def test_batches_by_count(openai_server: FakeOpenAIServer) -> None:
    texts = [f"text {i}" for i in range(7)]
    with _embedder(openai_server, batch_size=3) as embedder:
        vectors = embedder.embed(texts)

    assert [len(r.body["input"]) for r in openai_server.requests] == [3, 3, 1]
    np.testing.assert_allclose(vectors, _expected(texts, openai_server.dimension), rtol=1e-5)


def test_batches_by_characters(openai_server: FakeOpenAIServer) -> None:
    texts = ["aaaa", "bbbb", "cccc", "dddd", "eeeeeeeeeeeeeeee"]
    with _embedder(openai_server, batch_size=100, max_request_chars=10) as embedder:
        embedder.embed(texts)

    # Two 4-char texts fit in 10 characters; the 16-char text exceeds it and goes alone.
    assert [r.body["input"] for r in openai_server.requests] == [
        ["aaaa", "bbbb"],
        ["cccc", "dddd"],
        ["eeeeeeeeeeeeeeee"],
    ]


def test_retries_429_after_the_retry_after_delay(openai_server: FakeOpenAIServer) -> None:
    openai_server.rate_limit(retry_after="0.3")
    with _embedder(openai_server) as embedder:
        vectors = embedder.embed(["hello"])

    first, second = openai_server.requests
    # The backoff alone would wait about a millisecond.
    assert 0.3 <= second.received_at - first.received_at < 3.0
    np.testing.assert_allclose(vectors, _expected(["hello"], openai_server.dimension), rtol=1e-5)


def test_retry_after_is_capped(openai_server: FakeOpenAIServer) -> None:
    openai_server.rate_limit(retry_after="120")
    policy = RetryPolicy(max_attempts=2, backoff_base=0.001, max_wait=0.05)
    started = time.monotonic()
    with _embedder(openai_server, retry=policy) as embedder:
        embedder.embed(["hello"])

    assert time.monotonic() - started < 5
    assert len(openai_server.requests) == 2


def test_retries_server_errors_then_succeeds(openai_server: FakeOpenAIServer) -> None:
    openai_server.server_error(times=2)
    with _embedder(openai_server) as embedder:
        vectors = embedder.embed(["hello", "world"])

    assert len(openai_server.requests) == 3
    assert vectors.shape == (2, openai_server.dimension)


def test_gives_up_with_the_status_and_provider_message(openai_server: FakeOpenAIServer) -> None:
    openai_server.server_error(times=3)
    with _embedder(openai_server) as embedder, pytest.raises(EmbeddingError) as caught:
        embedder.embed(["hello"])

    error = caught.value
    assert error.status == 500
    assert error.provider_message == "The server had an error processing your request."
    assert error.provider_type == "server_error"
    assert error.attempts == 3
    assert "HTTP 500" in str(error) and "after 3 attempts" in str(error)
    assert len(openai_server.requests) == 3


def test_gives_up_on_repeated_429(openai_server: FakeOpenAIServer) -> None:
    for _ in range(3):
        openai_server.rate_limit(retry_after="0")
    with _embedder(openai_server) as embedder, pytest.raises(EmbeddingError) as caught:
        embedder.embed(["hello"])

    assert caught.value.status == 429
    assert caught.value.provider_code == "rate_limit_exceeded"
    assert len(openai_server.requests) == 3


def test_sends_the_api_key_as_bearer_token(openai_server: FakeOpenAIServer) -> None:
    openai_server.api_key = "sk-test-secret"
    with _embedder(openai_server, api_key="sk-test-secret") as embedder:
        embedder.embed(["hello"])
    with _embedder(openai_server) as anonymous, pytest.raises(EmbeddingError):
        anonymous.embed(["hello"])

    authorizations = [r.authorization for r in openai_server.requests]
    assert authorizations == ["Bearer sk-test-secret", None]


def test_401_is_not_retried_and_never_leaks_the_key(
    openai_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.api_key = "sk-right"
    caplog.set_level(logging.DEBUG)
    with _embedder(openai_server, api_key="sk-wrong-secret") as embedder:
        with pytest.raises(EmbeddingError) as caught:
            embedder.embed(["hello"])
        assert "sk-wrong-secret" not in repr(vars(embedder))

    error = caught.value
    assert error.status == 401
    assert error.provider_message == "Incorrect API key provided."
    assert error.provider_code == "invalid_api_key"
    assert error.attempts == 1
    assert len(openai_server.requests) == 1
    assert "sk-wrong-secret" not in str(error)
    assert "sk-wrong-secret" not in caplog.text


def test_key_is_not_logged_during_retries(
    openai_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.server_error(times=1)
    caplog.set_level(logging.DEBUG)
    with _embedder(openai_server, api_key="sk-never-log-me") as embedder:
        embedder.embed(["hello"])

    assert "HTTP 500" in caplog.text
    assert "sk-never-log-me" not in caplog.text


def test_dimension_is_learnt_from_the_first_response(openai_server: FakeOpenAIServer) -> None:
    with _embedder(openai_server) as embedder:
        embedder.embed(["first"])
        assert embedder.dimension == openai_server.dimension
        assert len(openai_server.requests) == 1


def test_dimension_before_any_embed_makes_one_probe(openai_server: FakeOpenAIServer) -> None:
    with _embedder(openai_server) as embedder:
        assert embedder.dimension == openai_server.dimension
        assert embedder.dimension == openai_server.dimension
        embedder.embed(["next"])

    assert len(openai_server.requests) == 2


def test_configured_dimensions_are_requested(openai_server: FakeOpenAIServer) -> None:
    with _embedder(openai_server, dimensions=4) as embedder:
        assert embedder.dimension == 4
        vectors = embedder.embed(["hello", "world"])

    assert vectors.shape == (2, 4)
    assert openai_server.requests[0].body["dimensions"] == 4


def test_a_provider_ignoring_dimensions_is_an_error(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(
        200,
        {"object": "list", "data": [{"index": 0, "embedding": [1.0, 0.0, 0.0]}], "model": MODEL},
    )
    with (
        _embedder(openai_server, dimensions=4) as embedder,
        pytest.raises(EmbeddingError) as caught,
    ):
        embedder.embed(["hello"])

    assert "3-dimensional vectors, expected 4" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"object": "list", "data": []},
        {"object": "list", "data": [{"index": 1, "embedding": [1.0, 2.0]}]},
        {"object": "list", "data": [{"index": 0, "embedding": "not numbers"}]},
        {"unexpected": True},
        ["not", "an", "object"],
    ],
)
def test_malformed_responses_are_errors(openai_server: FakeOpenAIServer, body: object) -> None:
    openai_server.script(200, body)
    with _embedder(openai_server) as embedder, pytest.raises(EmbeddingError) as caught:
        embedder.embed(["hello"])

    assert caught.value.status == 200
    assert "invalid embeddings response" in str(caught.value)


def test_bad_request_is_not_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(
        400,
        openai_error("maximum context length exceeded", type_="invalid_request_error", code=None),
    )
    with _embedder(openai_server) as embedder, pytest.raises(EmbeddingError) as caught:
        embedder.embed(["hello"])

    assert caught.value.status == 400
    assert caught.value.provider_message == "maximum context length exceeded"
    assert len(openai_server.requests) == 1


def test_plain_string_errors_of_other_servers_are_kept(openai_server: FakeOpenAIServer) -> None:
    # Ollama and TEI answer {"error": "..."} rather than OpenAI's object.
    openai_server.script(404, {"error": 'model "nomic-embed-text" not found, try pulling it first'})
    with _embedder(openai_server) as embedder, pytest.raises(EmbeddingError) as caught:
        embedder.embed(["hello"])

    assert caught.value.status == 404
    assert (
        caught.value.provider_message == 'model "nomic-embed-text" not found, try pulling it first'
    )


def test_connection_failures_are_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more, so every connection is refused.
    embedder = OpenAICompatibleEmbedder(
        model=MODEL, base_url=f"http://127.0.0.1:{port}/v1", retry=FAST_RETRY
    )
    with embedder, pytest.raises(EmbeddingError) as caught:
        embedder.embed(["hello"])

    assert caught.value.status is None
    assert caught.value.attempts == 3
    assert "ConnectError" in str(caught.value)


def test_resource_resolves_the_env_var_key_in_a_dagster_run(
    openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.api_key = "sk-from-env"
    monkeypatch.setenv("TEST_EMBEDDING_KEY", "sk-from-env")
    resource = EmbedderResource(
        kind="openai",
        model=MODEL,
        base_url=openai_server.url,
        api_key=dg.EnvVar("TEST_EMBEDDING_KEY"),
        batch_size=2,
    )
    seen: dict[str, object] = {}

    @dg.asset
    def vectors(embedder: EmbedderResource) -> None:
        seen["shape"] = embedder.get_embedder().embed(["a", "b", "c"]).shape
        seen["fingerprint"] = embedder.fingerprint()

    result = dg.materialize([vectors], resources={"embedder": resource})

    assert result.success
    assert seen == {"shape": (3, openai_server.dimension), "fingerprint": f"openai/{MODEL}:8"}
    assert [len(r.body["input"]) for r in openai_server.requests] == [2, 1]
    assert {r.authorization for r in openai_server.requests} == {"Bearer sk-from-env"}


def test_resource_outside_dagster_reads_the_env_var_key(
    openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.api_key = "sk-outside"
    monkeypatch.setenv("HEADWATER_EMBEDDER", "openai")
    monkeypatch.setenv("HEADWATER_EMBEDDING_MODEL", MODEL)
    monkeypatch.setenv("HEADWATER_EMBEDDING_BASE_URL", openai_server.url)
    monkeypatch.setenv("HEADWATER_EMBEDDING_API_KEY", "sk-outside")
    resource = EmbedderResource.from_env()

    assert "sk-outside" not in repr(resource)
    assert resource.fingerprint() == f"openai/{MODEL}:8"
    assert openai_server.requests[0].authorization == "Bearer sk-outside"
