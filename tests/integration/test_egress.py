"""Requests through the guarded transport, against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from resources.connectors.codehost import git_auth_env
from resources.connectors.egress import EgressPolicy, EgressRefused, GuardedTransport
from resources.connectors.git import GitConnector
from resources.connectors.github import GIT_USERNAME
from tests.fakes.github_server import (
    FAKE_TOKEN,
    FakeGithubServer,
    github_server_fixture,  # noqa: F401  (fixture)
)
from tests.fakes.serving import serve_in_thread
from tests.gitrepo import seeded_repository


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


@pytest.fixture
def landing() -> Iterator[tuple[str, list[str]]]:
    """A server that records every path asked of it: where a redirect would land."""
    app = FastAPI()
    asked: list[str] = []

    @app.get("/{path:path}")
    def record(path: str) -> dict[str, str]:
        asked.append(path)
        return {}

    with serve_in_thread(app, name="landing") as url:
        yield url, asked


def test_git_reaches_a_named_host_at_its_checked_addresses(
    github_server: FakeGithubServer, tmp_path: Path
) -> None:
    github = github_server
    github.add_repository("acme", "docs", source=seeded_repository(tmp_path / "work"))
    named = github.url.replace("127.0.0.1", "localhost")
    auth = git_auth_env(named, username=GIT_USERNAME, token=FAKE_TOKEN)
    connector = GitConnector(
        {"url": f"{named}/acme/docs.git"}, workdir=tmp_path / "cache", extra_env=auth
    )

    result = connector.check()

    assert result.ok, result.message
    assert any(request.path.endswith("/info/refs") for request in github.requests)


def test_git_follows_no_redirect(landing: tuple[str, list[str]], tmp_path: Path) -> None:
    landing_url, asked = landing
    app = FastAPI()

    @app.get("/{path:path}")
    def elsewhere(path: str) -> RedirectResponse:
        return RedirectResponse(f"{landing_url}/{path}")

    with serve_in_thread(app, name="redirecting") as url:
        connector = GitConnector({"url": f"{url}/acme/docs.git"}, workdir=tmp_path / "cache")
        result = connector.check()

    assert not result.ok
    assert asked == []


def test_git_never_reaches_the_metadata_service(tmp_path: Path) -> None:
    connector = GitConnector(
        {"url": "http://169.254.169.254/latest/repo.git"}, workdir=tmp_path / "cache"
    )

    result = connector.check()

    assert not result.ok and "169.254.169.254" in result.message
    assert "link-local" in result.message
