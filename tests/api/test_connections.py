"""Connections over HTTP: validated, secrets sealed and masked, tested for real, owned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from resources.vault import MASK
from tests.api.conftest import ApiServer
from tests.fakes.codehost import USER_NAME
from tests.fakes.github_server import FAKE_TOKEN, FakeGithubServer
from tests.profile import stored_bytes


def _create(client: httpx.Client, github: FakeGithubServer, **overrides: object) -> httpx.Response:
    body: dict[str, object] = {
        "type": "github",
        "name": "acme on GitHub",
        "config": {"token": FAKE_TOKEN, "apiUrl": github.api_url},
        **overrides,
    }
    return client.post("/connections", json=body)


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_a_connection_is_stored_sealed_and_shown_masked(
    api: ApiServer, github: FakeGithubServer
) -> None:
    client = api.client()
    created = _create(client, github)
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection["config"] == {"token": MASK, "apiUrl": github.api_url}
    assert connection["status"] == "active" and connection["lastTestedAt"] is None
    assert FAKE_TOKEN.encode() not in stored_bytes(api.database_url)
    assert FAKE_TOKEN not in api.log.read_text()

    listed = client.get("/connections").json()
    assert listed["total"] == 1 and listed["connections"][0]["id"] == connection["id"]
    assert client.get("/connections", params={"type": "gitlab"}).json()["total"] == 0
    shown = client.get(f"/connections/{connection['id']}").json()
    assert shown["config"]["token"] == MASK and FAKE_TOKEN not in str(shown)


def test_bad_connections_are_refused_and_change_nothing(
    api: ApiServer, github: FakeGithubServer
) -> None:
    client = api.client()
    no_token = _create(client, github, config={"apiUrl": github.api_url})
    assert _error(no_token, 400, "INVALID_CONFIG")["details"]["field"] == "config.token"
    # A token goes in an HTTP header: one it cannot carry is refused, and not echoed.
    spaced = _create(client, github, config={"token": "tøken with spaces"})
    error = _error(spaced, 400, "INVALID_CONFIG")
    assert error["details"]["field"] == "config.token" and "tøken" not in spaced.text
    extra = _create(client, github, config={"token": "t", "owner": "acme"})
    assert _error(extra, 400, "INVALID_CONFIG")["details"]["field"] == "config.owner"
    local = _create(client, github, type="local", config={"path": "/"})
    assert _error(local, 400, "INVALID_CONFIG")["details"]["field"] == "type"
    assert client.get("/connections").json()["total"] == 0

    assert _create(client, github).status_code == 201
    _error(_create(client, github), 409, "DUPLICATE_CONNECTION")
    assert _create(api.client(), github).status_code == 201  # the name is per user
    assert client.get("/connections").json()["total"] == 1


def test_another_user_cannot_see_change_test_or_delete_it(
    api: ApiServer, github: FakeGithubServer
) -> None:
    owner, other = api.client(), api.client()
    connection_id = _create(owner, github).json()["id"]
    for response in (
        other.get(f"/connections/{connection_id}"),
        other.patch(f"/connections/{connection_id}", json={"name": "mine"}),
        other.post(f"/connections/{connection_id}/test"),
        other.delete(f"/connections/{connection_id}"),
    ):
        _error(response, 404, "CONNECTION_NOT_FOUND")
    assert other.get("/connections").json()["total"] == 0
    assert owner.get(f"/connections/{connection_id}").json()["name"] == "acme on GitHub"


def test_the_test_really_connects_and_explains_a_refusal(
    api: ApiServer, github: FakeGithubServer
) -> None:
    client = api.client()
    connection_id = _create(client, github).json()["id"]
    passed = client.post(f"/connections/{connection_id}/test")
    assert passed.status_code == 200, passed.text
    report = passed.json()
    assert report["success"] is True and report["issues"] == []
    assert report["connectionTest"]["status"] == "success"
    assert USER_NAME in report["connectionTest"]["message"]
    assert "acme/api" in report["operationsTest"]["GET /user/repos"]["detail"]
    assert "default branch main" in report["operationsTest"]["GET /repos/{sample}"]["detail"]
    assert client.get(f"/connections/{connection_id}").json()["lastTestedAt"]

    # A wrong token replaces the stored one; the test then says what is wrong and what to do.
    patched = client.patch(f"/connections/{connection_id}", json={"config": {"token": "wrong"}})
    assert patched.status_code == 200 and patched.json()["config"]["token"] == MASK
    failed = client.post(f"/connections/{connection_id}/test").json()
    assert failed["success"] is False
    assert failed["connectionTest"]["errorCode"] == "CONNECTION_TEST_FAILED"
    assert "bad credentials" in failed["connectionTest"]["message"].lower()
    assert "token" in failed["recommendations"][0] and failed["issues"][0]["severity"] == "error"
    assert client.get(f"/connections/{connection_id}").json()["lastError"]


def test_patch_keeps_a_masked_secret_and_put_replaces_the_rest(
    api: ApiServer, github: FakeGithubServer
) -> None:
    client = api.client()
    connection = _create(client, github, description="first").json()
    url = f"/connections/{connection['id']}"
    shown = client.get(url).json()
    # Sending back what GET showed (the mask included) changes nothing secret.
    renamed = client.patch(url, json={"name": "renamed", "config": shown["config"]})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "renamed" and renamed.json()["description"] == "first"
    assert client.post(f"{url}/test").json()["success"] is True

    bad = client.patch(url, json={"config": {"apiUrl": "not a url"}})
    assert _error(bad, 400, "INVALID_CONFIG")["details"]["field"] == "config.apiUrl"
    replaced = client.put(
        url,
        json={"name": "again", "config": {"token": MASK, "apiUrl": github.api_url}},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["description"] is None and replaced.json()["name"] == "again"
    assert client.post(f"{url}/test").json()["success"] is True
    assert client.delete(url).json() == {"message": "Connection deleted"}
    _error(client.get(url), 404, "CONNECTION_NOT_FOUND")


def test_a_source_uses_a_connection_which_then_cannot_be_deleted(
    api: ApiServer, github: FakeGithubServer, tmp_path: Path
) -> None:
    client = api.client()
    connection_id = _create(client, github).json()["id"]
    with_token = client.post(
        "/sources",
        json={
            "type": "github",
            "connectionId": connection_id,
            "config": {"owner": "acme", "repo": "api", "token": "x"},
        },
    )
    assert _error(with_token, 400, "VALIDATION_ERROR")["details"]["field"] == "config.token"
    wrong_type = client.post(
        "/sources",
        json={"type": "git", "connectionId": connection_id, "config": {"url": str(tmp_path)}},
    )
    assert _error(wrong_type, 400, "VALIDATION_ERROR")["details"]["field"] == "connectionId"
    missing = client.post(
        "/sources", json={"type": "github", "connectionId": "nope", "config": {"owner": "a"}}
    )
    _error(missing, 404, "CONNECTION_NOT_FOUND")

    created = client.post(
        "/sources",
        json={
            "type": "github",
            "connectionId": connection_id,
            "config": {"owner": "acme", "repo": "api"},
        },
    )
    assert created.status_code == 201, created.text
    source = client.get(f"/sources/{created.json()['source']['id']}").json()
    assert source["connectionId"] == connection_id
    assert source["config"] == {"owner": "acme", "repo": "api"}
    refused = _error(client.delete(f"/connections/{connection_id}"), 409, "CONFLICT")
    assert refused["details"] == {"sourceIds": [source["id"]]}
