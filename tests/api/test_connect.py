"""API-key onboarding over HTTP against fake code hosts: tested before stored, never echoed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from resources.connectors.base import ConnectionTester
from resources.connectors.registry import CONNECTORS
from resources.store.models import JobStatus
from tests.api.conftest import ApiServer, RunHere
from tests.fakes.codehost import FakeCodeHost, running
from tests.fakes.github_server import FakeGithubServer
from tests.fakes.gitlab_server import FakeGitlabServer
from tests.gitrepo import commit_all, git, write
from tests.profile import stored_bytes

pytestmark = pytest.mark.slow

HOSTS: dict[str, type[FakeCodeHost]] = {"github": FakeGithubServer, "gitlab": FakeGitlabServer}
GOOD_KEY = "onboarding-key-0123456789abcdef"
WRONG_KEY = "refused-key-fedcba9876543210"
SMALL, LARGE = "# Notes\n\nShort.\n", "# Book\n\n" + "A long line of prose.\n" * 400


def _onboards(connector_type: str) -> bool:
    """Whether the registry can test (and so onboard) an API key of this type yet."""
    cls = CONNECTORS[connector_type]
    return bool(cls.spec.connection_fields) and issubclass(cls, ConnectionTester)


@pytest.fixture(params=sorted(HOSTS))
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FakeCodeHost]:
    """A fake code host of each provider accepting GOOD_KEY, serving `acme/docs`."""
    work = tmp_path / "docs"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    write(work, {"small.md": SMALL, "large.md": LARGE})
    commit_all(work, "first")
    with running(HOSTS[request.param](tmp_path / "served", token=GOOD_KEY)) as server:
        server.add_repository("acme", "docs", source=work)
        yield server


def _type(host: FakeCodeHost) -> str:
    return next(name for name, cls in HOSTS.items() if isinstance(host, cls))


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_the_init_says_which_key_header_and_fields(api: ApiServer) -> None:
    client = api.client()
    started = client.post("/connectors/github/connect", json={"method": "apiKey"})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["method"] == "apiKey" and body["header"] == "Authorization: Bearer {apiKey}"
    assert [field["name"] for field in body["fields"]] == ["apiKey"]
    assert "personal access token" in body["fields"][0]["description"]
    assert sorted(body["configSchema"]["properties"]) == ["apiUrl", "gitUrl"]
    assert body["configSchema"]["required"] == []
    assert body["optionsSchema"]["properties"]["maxFileBytes"]["default"] == 5_000_000
    assert body["callbackUrl"] == "/connectors/github/connect/callback"
    assert client.post("/connectors/github/connect").json() == body  # the body is optional

    local = _error(client.post("/connectors/local/connect"), 400, "VALIDATION_ERROR")
    assert local["details"]["field"] == "method" and local["details"]["authMethods"] == ["none"]
    _error(client.post("/connectors/nope/connect"), 404, "CONNECTOR_NOT_FOUND")
    oauth = client.post("/connectors/github/connect", json={"method": "oauth2"})
    assert _error(oauth, 400, "VALIDATION_ERROR")["details"]["field"] == "body.method"
    assert api.anonymous().post("/connectors/github/connect").status_code == 401


def test_a_good_key_becomes_a_connection_a_source_syncs_with(
    api: ApiServer, host: FakeCodeHost, run_here: RunHere
) -> None:
    client = api.client()
    connector_type = _type(host)
    callback = f"/connectors/{connector_type}/connect/callback"
    body = {
        "apiKey": GOOD_KEY,
        "name": "acme docs",
        "config": {"apiUrl": host.api_url},
        "options": {"maxFileBytes": 1_000},
    }
    if not _onboards(connector_type):
        refused = _error(client.post(callback, json=body), 400, "INVALID_CONFIG")
        assert refused["details"]["field"] == "type"
        assert host.api_requests() == [] and client.get("/connections").json()["total"] == 0
        return

    connected = client.post(callback, json=body)
    assert connected.status_code == 201, connected.text
    assert set(connected.json()) == {"connectionId", "status"}
    assert connected.json()["status"] == "connected"
    connection_id = connected.json()["connectionId"]
    tested = [r for r in host.api_requests() if r.headers.get("authorization")]
    assert tested and all(r.headers["authorization"] == f"Bearer {GOOD_KEY}" for r in tested)
    shown = client.get(f"/connections/{connection_id}").json()
    assert shown["type"] == connector_type and shown["name"] == "acme docs"
    assert shown["config"] == {"token": "********", "apiUrl": host.api_url}
    assert shown["options"] == {"maxFileBytes": 1_000} and shown["lastTestedAt"]
    _error(client.post(callback, json=body), 409, "DUPLICATE_CONNECTION")

    created = client.post(
        "/sources",
        json={
            "type": connector_type,
            "connectionId": connection_id,
            "config": {"owner": "acme", "repo": "docs"},
        },
    )
    assert created.status_code == 201, created.text
    job = run_here(api, created.json()["syncJob"]["id"])
    assert job.status is JobStatus.COMPLETED, job.error
    # The connection's options reach the pipeline: the large file is over its cap.
    assert (job.stats["filesAdded"], job.stats["filesSkipped"]) == (1, 1)
    source = client.get(f"/sources/{created.json()['source']['id']}").json()
    assert source["stats"]["filesIndexed"] == 1 and source["options"]["maxFileBytes"] == 1_000

    stored = stored_bytes(api.database_url)
    assert b"acme docs" in stored and GOOD_KEY.encode() not in stored
    assert GOOD_KEY not in api.log.read_text()


def test_a_refused_key_stores_nothing_and_is_never_echoed(
    api: ApiServer, host: FakeCodeHost
) -> None:
    client = api.client()
    connector_type = _type(host)
    if not _onboards(connector_type):
        return  # the refusal of the whole type is tested above
    refused = client.post(
        f"/connectors/{connector_type}/connect/callback",
        json={"apiKey": WRONG_KEY, "config": {"apiUrl": host.api_url}},
    )
    error = _error(refused, 422, "CONNECTION_TEST_FAILED")
    report = error["details"]
    assert report["success"] is False and report["issues"][0]["severity"] == "error"
    assert report["connectionTest"]["errorCode"] == "CONNECTION_TEST_FAILED"
    assert "token" in report["recommendations"][0].lower()
    assert client.get("/connections").json()["total"] == 0
    assert host.api_requests()  # the provider was really asked
    for text in (refused.text, api.log.read_text()):
        assert WRONG_KEY not in text


def test_misplaced_credentials_and_bad_config_are_refused_before_any_call(
    api: ApiServer, github: FakeGithubServer
) -> None:
    client = api.client()
    callback = "/connectors/github/connect/callback"
    asked = len(github.api_requests())
    in_config = client.post(callback, json={"apiKey": "k", "config": {"token": "k"}})
    assert _error(in_config, 400, "VALIDATION_ERROR")["details"]["field"] == "config.token"
    secret = client.post(callback, json={"apiKey": "k", "apiSecret": "s"})
    assert _error(secret, 400, "VALIDATION_ERROR")["details"]["field"] == "apiSecret"
    bad_url = client.post(callback, json={"apiKey": "k", "config": {"apiUrl": "ftp://x"}})
    assert _error(bad_url, 400, "INVALID_CONFIG")["details"]["field"] == "config.apiUrl"
    bad_option = client.post(callback, json={"apiKey": "k", "options": {"maxFileBytes": 0}})
    assert _error(bad_option, 400, "INVALID_CONFIG")["details"]["field"] == "options.maxFileBytes"
    no_key = client.post(callback, json={"config": {}})
    assert _error(no_key, 400, "VALIDATION_ERROR")["details"]["field"] == "body.apiKey"
    git_key = client.post("/connectors/git/connect/callback", json={"apiKey": "k"})
    assert _error(git_key, 400, "VALIDATION_ERROR")["details"]["field"] == "method"
    assert len(github.api_requests()) == asked and client.get("/connections").json()["total"] == 0
