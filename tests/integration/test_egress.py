"""Requests through the guarded transport, against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from resources.connectors.egress import EgressPolicy, EgressRefused, GuardedTransport
from tests.fakes.serving import serve_in_thread


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/to-metadata")
    def to_metadata() -> RedirectResponse:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/")

    with serve_in_thread(app, name="egress") as url:
        yield url


def _client(policy: EgressPolicy) -> httpx.Client:
    return httpx.Client(transport=GuardedTransport(policy), follow_redirects=True, timeout=5)


def test_an_allowed_host_is_reached_under_its_own_name(server: str) -> None:
    with _client(EgressPolicy(allow_private=True)) as client:
        response = client.get(f"{server}/hello")
    assert response.json() == {"hello": "world"}
    assert response.request.headers["host"] == httpx.URL(server).netloc.decode()


def test_loopback_is_refused_in_production(server: str) -> None:
    with _client(EgressPolicy(allow_private=False)) as client, pytest.raises(EgressRefused):
        client.get(f"{server}/hello")


def test_a_redirect_to_the_metadata_service_is_refused(server: str) -> None:
    refused = pytest.raises(EgressRefused, match=r"169\.254\.169\.254")
    with _client(EgressPolicy(allow_private=True)) as client, refused:
        client.get(f"{server}/to-metadata")
