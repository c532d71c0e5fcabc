"""OAuth 2.0 with PKCE end to end: the API under uvicorn against a local authorization server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.api.conftest import SERVICE_TOKEN, ApiServer, new_user, run_server
from tests.fakes.drive_server import USER_EMAIL, FakeDrive, running_drive
from tests.fakes.oauth_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeOAuthServer,
    running_oauth_server,
)
from tests.profile import stored_bytes

APP = "http://app.test/oauth/done"
PUBLIC = "http://headwater.test"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOAuthServer]:
    """One authorization server standing in for GitLab and Google."""
    with running_oauth_server() as server:
        yield server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, provider: FakeOAuthServer) -> Iterator[ApiServer]:
    """The API with gitlab and google pointed at the local server (dropbox unconfigured)."""
    env = {"HEADWATER_PUBLIC_URL": PUBLIC, "HEADWATER_OAUTH_REDIRECT_URIS": json.dumps([APP])}
    for name in ("GITLAB", "GOOGLE"):
        env |= {
            f"HEADWATER_OAUTH_{name}_CLIENT_ID": CLIENT_ID,
            f"HEADWATER_OAUTH_{name}_CLIENT_SECRET": CLIENT_SECRET,
            f"HEADWATER_OAUTH_{name}_AUTHORIZE_URL": f"{provider.url}/authorize",
            f"HEADWATER_OAUTH_{name}_TOKEN_URL": f"{provider.url}/token",
            f"HEADWATER_OAUTH_{name}_REVOKE_URL": f"{provider.url}/revoke",
            f"HEADWATER_OAUTH_{name}_ISSUER": provider.url,
        }
    with run_server(tmp_path_factory.mktemp("oauth") / "home", **env) as server:
        yield server


@pytest.fixture(autouse=True)
def _defaults(provider: FakeOAuthServer) -> None:
    provider.access_ttl_s, provider.issue_refresh_tokens, provider.refresh_delay_s = 3600, True, 0


def authorize(client: httpx.Client, provider_name: str = "gitlab") -> dict[str, str]:
    """Start a flow and consent at the provider; the callback's query parameters."""
    started = client.get(f"/oauth/{provider_name}", params={"redirect_uri": APP})
    assert started.status_code == 302, started.text
    consented = httpx.get(started.headers["location"])
    assert consented.status_code == 302, consented.text
    back = urlsplit(consented.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{PUBLIC}/oauth/{provider_name}/callback"
    return {k: v[0] for k, v in parse_qs(back.query).items()}


def callback(api: ApiServer, query: dict[str, str], at: str = "gitlab") -> httpx.Response:
    """The browser coming back to the API from the provider."""
    return api.anonymous().get(f"/oauth/{at}/callback", params=query)


def connect(api: ApiServer, user: str, provider_name: str = "gitlab") -> dict[str, str]:
    """A whole successful flow; the query the app's redirect URI receives."""
    done = callback(api, authorize(api.client(user), provider_name), provider_name)
    assert done.status_code == 302, done.text
    location = urlsplit(done.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == APP
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def service(api: ApiServer, user: str) -> httpx.Client:
    """An internal caller acting for `user`."""
    return httpx.Client(
        base_url=api.url, headers={"X-Service-Token": SERVICE_TOKEN, "X-User-Id": user}
    )


def tokens(api: ApiServer, user: str, provider_name: str = "gitlab") -> httpx.Response:
    with service(api, user) as client:
        return client.get(f"/oauth/tokens/{provider_name}")


def test_flow_stores_sealed_tokens_and_hands_them_to_services(
    api: ApiServer, provider: FakeOAuthServer
) -> None:
    user = new_user()
    start = api.client(user).get("/oauth/gitlab", params={"redirect_uri": APP})
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and "code_verifier" not in query
    assert query["redirect_uri"] == [f"{PUBLIC}/oauth/gitlab/callback"]

    back = connect(api, user)

    assert "error" not in back
    shown = api.client(user).get(f"/connections/{back['connectionId']}").json()
    assert shown["type"] == "gitlab" and shown["status"] == "active"
    answer = tokens(api, user)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accessToken"] == provider.issued[-2]
    assert answer.json()["refreshToken"] is None
    stored = stored_bytes(api.database_url)
    log = api.log.read_text()
    assert not [t for t in provider.issued if t.encode() in stored or t in log]


def test_tokens_need_the_service_token(api: ApiServer) -> None:
    user = new_user()
    connect(api, user)
    assert api.client(user).get("/oauth/tokens/gitlab").status_code == 401
    wrong = {"X-Service-Token": "nope", "X-User-Id": user}
    assert httpx.get(f"{api.url}/oauth/tokens/gitlab", headers=wrong).status_code == 401
    assert tokens(api, new_user()).status_code == 404


def _expire_states(api: ApiServer) -> None:
    with api.store().session() as db:
        db.execute(text("UPDATE oauth_states SET expires_at = '2000-01-01 00:00:00.000000'"))


@pytest.mark.parametrize("case", ["tampered", "replayed", "expired", "other_provider", "iss"])
def test_bad_state_is_refused_and_nothing_stored(
    api: ApiServer, provider: FakeOAuthServer, case: str
) -> None:
    user = new_user()
    query = authorize(api.client(user))
    at = "gitlab"
    if case == "tampered":
        query["state"] += "x"
    elif case == "replayed":
        assert callback(api, query).status_code == 302
        api.client(user).delete(f"/connections/{_only_connection(api, user)}")
    elif case == "expired":
        _expire_states(api)
    elif case == "other_provider":
        at = "google"
    else:
        query["iss"] = "http://evil.test"
    calls = dict(provider.token_calls)

    refused = callback(api, query, at)

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "VALIDATION_ERROR"
    assert provider.token_calls == calls
    assert api.client(user).get("/connections").json()["total"] == 0


def _only_connection(api: ApiServer, user: str) -> str:
    listed = api.client(user).get("/connections").json()["connections"]
    assert len(listed) == 1
    return str(listed[0]["id"])


def test_start_refuses_unknown_unconfigured_and_unlisted(api: ApiServer) -> None:
    client = api.client()
    assert client.get("/oauth/nope", params={"redirect_uri": APP}).status_code == 404
    assert client.get("/oauth/dropbox", params={"redirect_uri": APP}).status_code == 400
    evil = client.get("/oauth/gitlab", params={"redirect_uri": "http://evil.test/x"})
    assert evil.status_code == 400 and "location" not in evil.headers
    prefix = client.get("/oauth/gitlab", params={"redirect_uri": APP + "/../../evil"})
    assert prefix.status_code == 400
    assert api.anonymous().get("/oauth/gitlab", params={"redirect_uri": APP}).status_code == 401


def test_google_without_refresh_token_needs_reauth(
    api: ApiServer, provider: FakeOAuthServer
) -> None:
    user = new_user()
    provider.issue_refresh_tokens = False
    back = connect(api, user, "google")
    assert back["error"] == "no_refresh_token"
    shown = api.client(user).get(f"/connections/{back['connectionId']}").json()
    assert shown["status"] == "needs_reauth" and "refresh token" in shown["lastError"]
    assert tokens(api, user, "google").status_code == 409


def test_expiring_tokens_refresh_with_rotation(api: ApiServer, provider: FakeOAuthServer) -> None:
    user = new_user()
    provider.access_ttl_s = 60  # inside the refresh margin: every use refreshes
    connect(api, user)
    before = provider.token_calls.get("refresh_token", 0)

    first, second = tokens(api, user).json(), tokens(api, user).json()

    # The second refresh used the rotated refresh token (a reused one would be refused).
    assert provider.token_calls["refresh_token"] == before + 2
    assert first["accessToken"] != second["accessToken"]
    assert second["accessToken"] == provider.issued[-2]


def test_concurrent_refreshes_make_one_token_call(
    api: ApiServer, provider: FakeOAuthServer
) -> None:
    user = new_user()
    provider.access_ttl_s = 60
    connect(api, user)
    provider.access_ttl_s, provider.refresh_delay_s = 3600, 0.5
    before = provider.token_calls.get("refresh_token", 0)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: tokens(api, user), range(6)))

    assert [a.status_code for a in answers] == [200] * 6
    assert len({a.json()["accessToken"] for a in answers}) == 1
    assert provider.token_calls["refresh_token"] == before + 1


def test_refused_refresh_marks_needs_reauth(api: ApiServer, provider: FakeOAuthServer) -> None:
    user = new_user()
    provider.access_ttl_s = 60
    connection_id = connect(api, user)["connectionId"]
    provider.revoke_all()

    refused = tokens(api, user)

    assert refused.status_code == 409, refused.text
    shown = api.client(user).get(f"/connections/{connection_id}").json()
    assert shown["status"] == "needs_reauth"


def test_delete_revokes_at_the_provider(api: ApiServer, provider: FakeOAuthServer) -> None:
    user = new_user()
    connection_id = connect(api, user)["connectionId"]
    refresh_token = provider.issued[-1]

    assert api.client(user).delete(f"/connections/{connection_id}").status_code == 200

    assert provider.revoked[-1] == refresh_token
    assert refresh_token not in provider.refresh_tokens


@pytest.fixture(scope="module")
def drive(provider: FakeOAuthServer) -> Iterator[FakeDrive]:
    """A fake Drive that takes the access tokens the authorization server issued."""
    with running_drive() as fake:
        fake.accepts = lambda token: token in provider.issued
        yield fake


def test_a_google_connection_serves_gdrive_sources_with_fresh_tokens(
    api: ApiServer, provider: FakeOAuthServer, drive: FakeDrive
) -> None:
    user = new_user()
    client = api.client(user)
    provider.access_ttl_s = 60  # inside the refresh margin: every use refreshes
    connection_id = connect(api, user, "google")["connectionId"]
    url = f"/connections/{connection_id}"
    folder = drive.add_folder("Shared notes")
    drive.add_document("Plan", "# Plan\n", parent=folder)

    # An OAuth connection may hold the provider's endpoints, never a token.
    patched = client.patch(url, json={"config": {"apiUrl": drive.api_url}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["config"] == {"apiUrl": drive.api_url}
    assert patched.json()["status"] == "active"
    with_token = client.patch(url, json={"config": {"token": "ya29.mine"}})
    assert with_token.status_code == 400
    assert with_token.json()["error"]["details"]["field"] == "config.token"

    before = provider.token_calls.get("refresh_token", 0)
    report = client.post(f"{url}/test").json()
    assert report["success"] is True, report
    assert provider.token_calls["refresh_token"] == before + 1  # refreshed first
    assert USER_EMAIL in report["connectionTest"]["message"]
    assert "Shared notes" in report["operationsTest"]["GET /files"]["detail"]

    source = {"type": "gdrive", "connectionId": connection_id, "config": {"folderId": folder}}
    repeated = client.post(
        "/sources", json={**source, "config": {"folderId": folder, "token": "t"}}
    )
    assert repeated.json()["error"]["details"]["field"] == "config.token"
    other = client.post("/sources", json={**source, "type": "gitlab", "config": {"owner": "a"}})
    assert other.json()["error"]["details"]["field"] == "connectionId"
    created = client.post("/sources", json=source)
    assert created.status_code == 201, created.text
    assert created.json()["webhook"]["registered"] is True
    watch = [r for r in drive.requests if r.path.endswith("/changes/watch")][-1]
    assert watch.headers["authorization"].removeprefix("Bearer ") in provider.issued

    # Access removed at Google: the test says to connect again, and the connection shows it.
    provider.revoke_all()
    failed = client.post(f"{url}/test").json()
    assert failed["success"] is False
    assert failed["connectionTest"]["errorCode"] == "NEEDS_REAUTH"
    assert "GET /oauth/google" in failed["recommendations"][0]
    assert client.get(url).json()["status"] == "needs_reauth"
    assert client.delete(f"/sources/{created.json()['source']['id']}").status_code == 200
