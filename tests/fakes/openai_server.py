"""A real HTTP server on 127.0.0.1 that speaks OpenAI's embeddings API, for tests.

It answers `POST /v1/embeddings` as documented (`input` list, `data[].embedding`,
`data[].index`, `model`, `usage`), returning `data` in reverse order so clients must
sort by `index`. Tests can script the next responses (429 with `Retry-After`, 500,
401 with OpenAI's error body, or any malformed body) and inspect every request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.serving import serve_in_thread

DEFAULT_DIMENSION = 8


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it."""

    body: dict[str, Any]
    authorization: str | None
    received_at: float  # time.monotonic() in this process


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """A response to give instead of embedding."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def openai_error(message: str, *, type_: str, code: str | None) -> dict[str, Any]:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class FakeOpenAIServer:
    """State and controls of one running fake server."""

    def __init__(self, *, dimension: int = DEFAULT_DIMENSION) -> None:
        self.dimension = dimension
        self.api_key: str | None = None
        self.url = ""
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._script: deque[ScriptedResponse] = deque()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def script(
        self, status: int, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next unanswered request with this response instead of embedding."""
        with self._lock:
            self._script.append(ScriptedResponse(status, body, headers or {}))

    def rate_limit(self, *, retry_after: str) -> None:
        """Answer the next request with 429 and `Retry-After`."""
        self.script(
            429,
            openai_error(
                "Rate limit reached for requests", type_="requests", code="rate_limit_exceeded"
            ),
            headers={"Retry-After": retry_after},
        )

    def server_error(self, *, times: int = 1) -> None:
        """Answer the next `times` requests with 500."""
        for _ in range(times):
            self.script(
                500,
                openai_error(
                    "The server had an error processing your request.",
                    type_="server_error",
                    code=None,
                ),
            )

    @staticmethod
    def vector_for(text: str, dimension: int) -> list[float]:
        """The raw (not unit-length) vector this server returns for a text."""
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        return (np.random.default_rng(seed).standard_normal(dimension) * 3.0).tolist()

    def handle(self, body: dict[str, Any], authorization: str | None) -> JSONResponse:
        with self._lock:
            self._requests.append(RecordedRequest(body, authorization, time.monotonic()))
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            return JSONResponse(
                scripted.body, status_code=scripted.status, headers=scripted.headers
            )
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return JSONResponse(
                openai_error(
                    "Incorrect API key provided.",
                    type_="invalid_request_error",
                    code="invalid_api_key",
                ),
                status_code=401,
            )
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(t, str) and t for t in inputs)
        ):
            return JSONResponse(
                openai_error("'$.input' is invalid.", type_="invalid_request_error", code=None),
                status_code=400,
            )
        dimension = body.get("dimensions") or self.dimension
        data = [
            {"object": "embedding", "index": i, "embedding": self.vector_for(text, dimension)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(text.split()) for text in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": data[::-1],
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _app(server: FakeOpenAIServer) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        return server.handle(await request.json(), request.headers.get("authorization"))

    return app


@contextmanager
def running_openai_server(*, dimension: int = DEFAULT_DIMENSION) -> Iterator[FakeOpenAIServer]:
    """Serve a fake on a free port of 127.0.0.1 in a background thread until exit."""
    server = FakeOpenAIServer(dimension=dimension)
    with serve_in_thread(_app(server), name="OpenAI") as url:
        server.url = f"{url}/v1"
        yield server


# Imported under this name, the fixture can be requested as `openai_server` without the
# test module's parameter shadowing the import.
@pytest.fixture(name="openai_server")
def openai_server_fixture() -> Iterator[FakeOpenAIServer]:
    """A fresh fake OpenAI embeddings server for one test."""
    with running_openai_server() as server:
        yield server
